//! The services a chaos run may kill, each private to the run: a RabbitMQ node and a PostgreSQL
//! cluster of its own (on free ports, in the run's directory), so killing them cannot hurt the
//! shared servers other tests use; and the processors as processes of their own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;
use tokio::time::Instant;

/// How long a service may take to come (back) up before the run gives up.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Until something listens on `port`; an error as soon as `process` exits (a port taken since
/// it was found free, say).
async fn wait_for_port(port: u16, what: &str, process: &mut Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if let Some(status) = process.try_wait()? {
            bail!("{what} exited while starting ({status}); see its log in the run's directory");
        }
        if Instant::now() > deadline {
            bail!("{what} did not listen on port {port} within {START_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// How often a server is started on freshly found ports before the run gives up: a port found
/// free can be taken by another process before the server binds it.
const START_ATTEMPTS: u32 = 3;

fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .context("run kill(1)")?;
    if !status.success() {
        bail!("kill -{signal} {pid} failed: {status}");
    }
    Ok(())
}

/// The direct children of `pid`, from /proc.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// A RabbitMQ node of the run's own, started from the distribution's scripts with every path
/// and port pointing into the run's directory. Its data survives SIGKILL and restart, which is
/// the point: quorum queues must give back every message they confirmed.
pub struct PrivateBroker {
    dir: PathBuf,
    node: String,
    pub amqp_port: u16,
    dist_port: u16,
    sbin: PathBuf,
    /// The start script; the Erlang VM is its child.
    script: Option<Child>,
}

impl PrivateBroker {
    /// Starts the node and imports `definitions` (the topology, for the vhost the run uses).
    pub async fn start(dir: &Path, definitions: &Value) -> anyhow::Result<Self> {
        let dir = dir.join("rabbitmq");
        std::fs::create_dir_all(&dir)?;
        let sbin = ["/usr/lib/rabbitmq/bin", "/usr/lib/rabbitmq/sbin"]
            .into_iter()
            .map(PathBuf::from)
            .find(|d| d.join("rabbitmq-server").exists())
            .context("RabbitMQ's scripts (/usr/lib/rabbitmq/bin); run scripts/services.sh")?;
        // No management plugin: the run reads everything over AMQP, and boots faster.
        std::fs::write(
            dir.join("enabled_plugins"),
            "[rabbitmq_consistent_hash_exchange].\n",
        )?;
        // An empty env file, so /etc/rabbitmq/rabbitmq-env.conf's node name is not used.
        std::fs::write(dir.join("rabbitmq-env.conf"), "")?;
        let mut broker = PrivateBroker {
            node: format!("xcs-chaos-{}@localhost", std::process::id()),
            dir,
            amqp_port: 0,
            dist_port: 0,
            sbin,
            script: None,
        };
        for attempt in 1..=START_ATTEMPTS {
            broker.kill()?;
            broker.amqp_port = free_port()?;
            broker.dist_port = free_port()?;
            while broker.dist_port == broker.amqp_port {
                broker.dist_port = free_port()?;
            }
            std::fs::write(
                broker.dir.join("rabbitmq.conf"),
                format!(
                    "listeners.tcp.default = 127.0.0.1:{}\nloopback_users = none\n\
                     log.file.level = warning\n",
                    broker.amqp_port
                ),
            )?;
            broker.spawn()?;
            match broker.wait_up().await {
                Ok(()) => break,
                Err(err) if attempt < START_ATTEMPTS => {
                    println!("the private RabbitMQ node did not start ({err:#}); other ports");
                }
                Err(err) => return Err(err),
            }
        }
        let file = broker.dir.join("definitions.json");
        std::fs::write(&file, serde_json::to_vec_pretty(definitions)?)?;
        broker.ctl(&["import_definitions", &file.to_string_lossy()])?;
        Ok(broker)
    }

    pub fn amqp_uri(&self, vhost: &str) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/{vhost}", self.amqp_port)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("node.out"))?;
        let child = Command::new(self.sbin.join("rabbitmq-server"))
            .current_dir(&self.dir)
            .env("RABBITMQ_CONF_ENV_FILE", self.dir.join("rabbitmq-env.conf"))
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_CONFIG_FILE", self.dir.join("rabbitmq.conf"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.join("enabled_plugins"),
            )
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env("RABBITMQ_PID_FILE", self.dir.join("pid"))
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start rabbitmq-server")?;
        self.script = Some(child);
        Ok(())
    }

    /// Until an AMQP client can log in.
    async fn wait_up(&mut self) -> anyhow::Result<()> {
        let script = self.script.as_mut().context("the node was started")?;
        wait_for_port(self.amqp_port, "the private RabbitMQ node", script).await?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let uri = format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.amqp_port);
            match lapin::Connection::connect(&uri, lapin::ConnectionProperties::default()).await {
                Ok(connection) => {
                    let _ = connection.close(200, "up".into()).await;
                    return Ok(());
                }
                Err(err) if Instant::now() > deadline => {
                    bail!("the private RabbitMQ node takes no logins: {err}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// `rabbitmqctl -n NODE ARGS…`.
    pub fn ctl(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new(self.sbin.join("rabbitmqctl"))
            .args(["-n", &self.node, "-q"])
            .args(args)
            .env("RABBITMQ_CONF_ENV_FILE", self.dir.join("rabbitmq-env.conf"))
            .output()
            .context("run rabbitmqctl")?;
        if !output.status.success() {
            bail!(
                "rabbitmqctl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// SIGKILL to the Erlang VM: no clean shutdown, no flushing, every connection just ends.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let Some(mut script) = self.script.take() else {
            return Ok(());
        };
        let vm = std::fs::read_to_string(self.dir.join("pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
            .into_iter()
            .chain(children(script.id()));
        for pid in vm {
            let _ = signal(pid, "KILL");
        }
        let _ = script.kill();
        let _ = script.wait();
        let _ = std::fs::remove_file(self.dir.join("pid"));
        Ok(())
    }

    /// Starts the node again on the same data, and waits until it takes logins.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        self.spawn()?;
        self.wait_up().await
    }

    pub fn is_running(&self) -> bool {
        self.script.is_some()
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// A PostgreSQL cluster of the run's own (initdb into the run's directory, as the `postgres`
/// user when running as root, which initdb requires).
pub struct PrivatePostgres {
    data: PathBuf,
    pub port: u16,
    bin: PathBuf,
    user: Option<(u32, u32)>,
    postmaster: Option<Child>,
}

impl PrivatePostgres {
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let dir = dir.join("postgres");
        std::fs::create_dir_all(&dir)?;
        let bin = postgres_bin_dir()?;
        let user = if is_root() {
            let ids = postgres_user()?;
            std::os::unix::fs::chown(&dir, Some(ids.0), Some(ids.1))?;
            Some(ids)
        } else {
            None
        };
        let mut postgres = PrivatePostgres {
            data: dir.join("data"),
            port: 0,
            bin,
            user,
            postmaster: None,
        };
        let output = postgres
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&postgres.data)
            .output()
            .context("run initdb")?;
        if !output.status.success() {
            bail!("initdb: {}", String::from_utf8_lossy(&output.stderr));
        }
        for attempt in 1..=START_ATTEMPTS {
            postgres.crash()?;
            postgres.port = free_port()?;
            postgres.spawn(&dir)?;
            match postgres.wait_up().await {
                Ok(()) => break,
                Err(err) if attempt < START_ATTEMPTS => {
                    println!("the private PostgreSQL did not start ({err:#}); other ports");
                }
                Err(err) => return Err(err),
            }
        }
        Ok(postgres)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.user {
            use std::os::unix::process::CommandExt as _;
            command.uid(uid).gid(gid);
        }
        command
    }

    fn spawn(&mut self, dir: &Path) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("postgres.log"))?;
        // fsync off: the run kills the server process, never the machine, and the OS keeps
        // what was written either way; the WAL replay after an immediate stop is the same.
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start postgres")?;
        self.postmaster = Some(child);
        Ok(())
    }

    async fn wait_up(&mut self) -> anyhow::Result<()> {
        let postmaster = self.postmaster.as_mut().context("the server was started")?;
        wait_for_port(self.port, "the private PostgreSQL", postmaster).await?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match tokio_postgres::connect(&self.url(), tokio_postgres::NoTls).await {
                Ok(_) => return Ok(()),
                // "the database system is starting up" while it replays its WAL.
                Err(err) if Instant::now() > deadline => {
                    bail!("the private PostgreSQL takes no connections: {err}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// An immediate shutdown (SIGQUIT): no checkpoint, every connection cut; the next start
    /// replays the WAL, as after a crash.
    pub fn crash(&mut self) -> anyhow::Result<()> {
        if let Some(mut postmaster) = self.postmaster.take() {
            if postmaster.try_wait()?.is_none() {
                signal(postmaster.id(), "QUIT")?;
            }
            postmaster.wait()?;
        }
        Ok(())
    }

    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        let dir = self
            .data
            .parent()
            .context("the data directory has a parent")?
            .to_path_buf();
        self.spawn(&dir)?;
        self.wait_up().await
    }

    pub fn is_running(&self) -> bool {
        self.postmaster.is_some()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.crash();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn postgres_user() -> anyhow::Result<(u32, u32)> {
    let id = |flag: &str| -> anyhow::Result<u32> {
        let output = Command::new("id").args([flag, "postgres"]).output()?;
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .context("running as root, initdb needs the postgres user")
    };
    Ok((id("-u")?, id("-g")?))
}

/// `XCS_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin` (Debian's layout).
fn postgres_bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XCS_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL's binaries: set XCS_PG_BIN")?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .context("no /usr/lib/postgresql/*/bin/initdb: set XCS_PG_BIN")
}

/// The processors, each a process of its own (`run-processor`, beside this binary), as a
/// supervisor (systemd, Kubernetes) runs them: one that exits is started again.
pub struct Processors {
    binary: PathBuf,
    dir: PathBuf,
    running: Vec<Option<Child>>,
    /// Exits the run did not cause (a processor giving up on its own).
    pub unplanned_exits: Vec<String>,
    starts: usize,
}

impl Processors {
    pub fn new(dir: &Path, count: usize, config: &str) -> anyhow::Result<Self> {
        let built = std::env::current_exe()?
            .parent()
            .context("the binary's directory")?
            .join("run-processor");
        if !built.exists() {
            bail!(
                "{} is missing: build it with `cargo build -p xcs-tests --bins`",
                built.display()
            );
        }
        // A copy of the run's own: processors restarted late in a long run must not pick up a
        // binary rebuilt meanwhile (or one half written).
        let binary = dir.join("run-processor");
        std::fs::copy(&built, &binary).context("copy run-processor into the run's directory")?;
        std::fs::write(dir.join("processor.toml"), config)?;
        let mut processors = Processors {
            binary,
            dir: dir.to_path_buf(),
            running: (0..count).map(|_| None).collect(),
            unplanned_exits: Vec::new(),
            starts: 0,
        };
        for i in 0..count {
            processors.start(i)?;
        }
        Ok(processors)
    }

    pub fn count(&self) -> usize {
        self.running.len()
    }

    pub fn start(&mut self, i: usize) -> anyhow::Result<()> {
        if self.running[i].is_some() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("processor-{i}.log")))?;
        let child = Command::new(&self.binary)
            .arg(self.dir.join("processor.toml"))
            .env(
                "RUST_LOG",
                std::env::var("CHAOS_PROCESSOR_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start run-processor")?;
        self.running[i] = Some(child);
        self.starts += 1;
        Ok(())
    }

    /// SIGKILL: what it held unacknowledged goes back to the queues.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.running[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.running[i].is_some()
    }

    /// Notes and restarts processors that exited by themselves.
    pub fn supervise(&mut self) -> anyhow::Result<()> {
        for i in 0..self.running.len() {
            let exited = match self.running[i].as_mut() {
                Some(child) => child.try_wait()?,
                None => None,
            };
            if let Some(status) = exited {
                self.running[i] = None;
                self.unplanned_exits
                    .push(format!("processor {i} exited by itself: {status}"));
                self.start(i)?;
            }
        }
        Ok(())
    }

    pub fn starts(&self) -> usize {
        self.starts
    }
}

impl Drop for Processors {
    fn drop(&mut self) {
        for i in 0..self.running.len() {
            self.kill(i);
        }
    }
}
