//! Hosts on one machine: `n` network namespaces, each joined by a veth pair to a bridge in
//! the test's own namespace, on a /24 of its own (`10.213.S.0/24`: host k is `.k+1`, the
//! bridge, where the test and its fake receivers listen, is `.254`). A process started in
//! host k's namespace reaches the others only through its link, so [`Hosts::cut`] (the
//! link's bridge end set down) is a real network partition: what either side sends is
//! dropped, the kernel tells neither, and each finds out by its own timeouts, as when a
//! machine's switch port dies. Needs root and iproute2 (`ip`); made with `ip netns add`, a
//! bridge and veth pairs, removed when dropped.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The hosts; their namespaces, links and the bridge are removed when dropped.
pub struct Hosts {
    /// Names' prefix, unique to this process and instance (`cw<id>`).
    prefix: String,
    /// The third octet of the subnet.
    subnet: u8,
    n: usize,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn must(args: &[&str]) {
    if let Err(e) = ip(args) {
        panic!("{e}");
    }
}

/// Why namespaces cannot be made here, if they cannot (not root, no `ip`).
pub fn missing() -> Option<String> {
    let probe = format!("cwprobe{}", std::process::id());
    match ip(&["netns", "add", &probe]) {
        Ok(()) => {
            let _ = ip(&["netns", "del", &probe]);
            None
        }
        Err(e) => {
            Some(format!("network namespaces are needed (root and iproute2's `ip`; `apt-get install iproute2`): {e}"))
        }
    }
}

impl Hosts {
    /// Makes `n` hosts (at most 9) on a subnet no interface of this machine uses yet.
    pub fn new(n: usize) -> Hosts {
        assert!(n <= 9, "at most 9 hosts");
        if let Some(why) = missing() {
            panic!("{why}");
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let id = (std::process::id() % 10_000) * 10 + NEXT.fetch_add(1, Ordering::SeqCst) % 10;
        let used =
            String::from_utf8_lossy(&Command::new("ip").args(["-4", "addr"]).output().unwrap().stdout).to_string();
        let subnet = (0..250u32)
            .map(|i| ((id + i * 7) % 250) as u8)
            .find(|s| !used.contains(&format!("10.213.{s}.")))
            .expect("a free 10.213.S.0/24");
        let hosts = Hosts { prefix: format!("cw{id}"), subnet, n };
        let bridge = hosts.bridge();
        must(&["link", "add", &bridge, "type", "bridge"]);
        must(&["addr", "add", &format!("{}/24", hosts.bridge_ip()), "dev", &bridge]);
        must(&["link", "set", &bridge, "up"]);
        for k in 0..n {
            let (ns, outer, inner) = (hosts.ns(k), hosts.outer(k), format!("{}i{k}", hosts.prefix));
            must(&["netns", "add", &ns]);
            must(&["link", "add", &outer, "type", "veth", "peer", "name", &inner]);
            must(&["link", "set", &inner, "netns", &ns]);
            must(&["link", "set", &outer, "master", &bridge]);
            must(&["link", "set", &outer, "up"]);
            must(&["-n", &ns, "addr", "add", &format!("{}/24", hosts.ip(k)), "dev", &inner]);
            must(&["-n", &ns, "link", "set", &inner, "up"]);
            must(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        hosts
    }

    fn bridge(&self) -> String {
        format!("{}b", self.prefix)
    }

    /// The bridge end of host k's link.
    fn outer(&self, k: usize) -> String {
        format!("{}o{k}", self.prefix)
    }

    /// Host k's namespace, for `ip netns exec`.
    pub fn ns(&self, k: usize) -> String {
        format!("{}h{k}", self.prefix)
    }

    /// Host k's address.
    pub fn ip(&self, k: usize) -> String {
        format!("10.213.{}.{}", self.subnet, k + 1)
    }

    /// The test's own address on the bridge, which every host reaches.
    pub fn bridge_ip(&self) -> String {
        format!("10.213.{}.254", self.subnet)
    }

    /// Host k is cut off: its link goes down; nothing reaches it or leaves it.
    pub fn cut(&self, k: usize) {
        must(&["link", "set", &self.outer(k), "down"]);
    }

    /// Host k's link is back.
    pub fn heal(&self, k: usize) {
        must(&["link", "set", &self.outer(k), "up"]);
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        // a namespace's processes are the caller's to stop; its end of the link goes with it
        for k in 0..self.n {
            let _ = ip(&["netns", "del", &self.ns(k)]);
            let _ = ip(&["link", "del", &self.outer(k)]);
        }
        let _ = ip(&["link", "del", &self.bridge()]);
    }
}
