//! A throwaway PostgreSQL cluster for a test: `initdb` into a temporary directory, `pg_ctl start` on
//! a free loopback port (trust authentication, loopback only), stopped and removed on drop. The
//! server binaries come from `FACEMATCH_PG_BIN`, Debian's `/usr/lib/postgresql/<version>/bin`
//! (`scripts/test` installs the `postgresql` package when it is missing), or `PATH`. As root the
//! cluster runs as the `postgres` user, since PostgreSQL refuses to run as root.
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
    owner: Option<String>,
}

fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FACEMATCH_PG_BIN") {
        return PathBuf::from(d);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, p): &(u32, PathBuf)| p.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p).unwrap_or_default()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl Cluster {
    pub fn start(name: &str) -> Cluster {
        let bin = bin_dir();
        let initdb = bin.join("initdb");
        assert!(
            initdb.is_file() || Command::new("initdb").arg("--version").output().is_ok(),
            "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: `apt-get install postgresql` (scripts/test does this), or set FACEMATCH_PG_BIN"
        );
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let owner = root.then(|| "postgres".to_string());
        let dir = std::env::temp_dir().join(format!("fm-pg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(o) = &owner {
            assert!(Command::new("chown").args([o, dir.to_str().unwrap()]).status().unwrap().success(), "chown {o}");
        }
        let c = Cluster { dir, bin, port: free_port(), owner };
        let data = c.dir.join("data");
        c.run("initdb", &["-D", data.to_str().unwrap(), "-U", "facematch", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        let opts = format!("-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c fsync=on", c.port, c.dir.display());
        c.run("pg_ctl", &["-D", data.to_str().unwrap(), "-o", &opts, "-l", c.dir.join("log").to_str().unwrap(), "-w", "start"]);
        c
    }

    fn tool(&self, name: &str) -> PathBuf {
        let p = self.bin.join(name);
        if p.is_file() {
            p
        } else {
            PathBuf::from(name)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let mut cmd = match &self.owner {
            Some(o) => {
                let mut c = Command::new("runuser");
                c.args(["-u", o, "--"]).arg(self.tool(tool));
                c
            }
            None => Command::new(self.tool(tool)),
        };
        let out = cmd.args(args).current_dir(&self.dir).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }

    /// A new, empty database and its URL.
    pub fn database(&self, name: &str) -> String {
        self.run("createdb", &["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "facematch", name]);
        format!("postgres://facematch@127.0.0.1:{}/{name}", self.port)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let mut cmd = match &self.owner {
            Some(o) => {
                let mut c = Command::new("runuser");
                c.args(["-u", o, "--"]).arg(self.tool("pg_ctl"));
                c
            }
            None => Command::new(self.tool("pg_ctl")),
        };
        let _ = cmd.args(["-D", data.to_str().unwrap_or_default(), "-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
