//! A real SMTP server for the email tests: aiosmtpd (Python; `bash scripts/test` installs
//! it) on `127.0.0.1:0`, telling its port on its first line of output. Messages go to a
//! maildir; `AUTH` can be required; the first `DATA` commands can be answered with scripted
//! replies (`451 4.3.0 …` transient, `550 5.1.1 …` permanent).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const SCRIPT: &str = r#"
import asyncio, json, sys
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

cfg = json.loads(sys.argv[1])

class Handler(Mailbox):
    def __init__(self, maildir, replies):
        super().__init__(maildir)
        self.replies = list(replies)

    async def handle_DATA(self, server, session, envelope):
        if self.replies:
            return self.replies.pop(0)
        return await super().handle_DATA(server, session, envelope)

def authenticator(server, session, envelope, mechanism, data):
    user, password = cfg["auth"]
    ok = isinstance(data, LoginPassword) and data.login == user.encode() and data.password == password.encode()
    return AuthResult(success=ok, handled=False)

async def main():
    handler = Handler(cfg["maildir"], cfg["data_replies"])
    kw = {}
    if cfg["auth"]:
        kw = dict(auth_required=True, auth_require_tls=False, authenticator=authenticator)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, **kw), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

/// A running aiosmtpd; killed when dropped.
pub struct FakeSmtp {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Where accepted messages go (`new/`).
    pub maildir: PathBuf,
}

impl FakeSmtp {
    /// Starts a server delivering into `maildir`, requiring `AUTH` as `auth` (user,
    /// password) when given, answering the first `DATA` commands with `data_replies`.
    pub fn start(maildir: &Path, auth: Option<(&str, &str)>, data_replies: &[&str]) -> FakeSmtp {
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap(); // Python makes them only for a new directory
        }
        let cfg = serde_json::json!({"maildir": maildir, "auth": auth, "data_replies": data_replies});
        let mut child = Command::new("python3")
            .args(["-W", "ignore", "-c", SCRIPT, &cfg.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs (run the tests with `bash scripts/test`, which installs aiosmtpd)");
        let mut line = String::new();
        let read = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        let port = match (read, line.trim().parse::<u16>()) {
            (Ok(_), Ok(p)) => p,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("aiosmtpd did not start (run the tests with `bash scripts/test`, which installs it)")
            }
        };
        FakeSmtp { child, port, maildir: maildir.to_path_buf() }
    }
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
