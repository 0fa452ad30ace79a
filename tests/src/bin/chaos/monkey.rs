//! The faults, struck one after another while the load runs: every other strike kills a
//! processor, the rest go round the other kinds in an order the seed shuffles. Each strike
//! lasts a few seconds and ends with the fault undone (the service restarted, the limits back),
//! as operators or supervisors would; the run then checks that nothing acknowledged was lost.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;
use xcs_tests::proxy::Proxy;
use xcs_xero_sim::{Fault, FaultKind, RateLimits, RunningSim};

use crate::rig::{PrivateBroker, PrivatePostgres, Processors};

const XERO_WRITES: &str = "/api.xro/2.0/";

/// The kinds of fault, besides killing a processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strike {
    /// RabbitMQ's Erlang VM SIGKILLed, started again on its data after a pause.
    KillBroker,
    /// A processor SIGKILLed, started again after a second.
    KillProcessor,
    /// PostgreSQL stopped in immediate mode (a crash: WAL replay on start), started again.
    CrashPostgres,
    /// Xero answers 500, 502 and 503 to a run of calls.
    XeroErrors,
    /// Xero's per-minute limit drops to a handful: real 429s with Retry-After, for a while.
    RateLimitStorm,
    /// Every Xero call slow for a while; two writes slower than the processor's timeout
    /// (applied in Xero all the same).
    XeroLatency,
    /// Writes applied, then answered 500 or not answered at all.
    ApplyThenFail,
    /// The TCP connection between the processors and Xero cut, new ones refused, for a while.
    CutXero,
}

impl Strike {
    const OTHERS: [Strike; 7] = [
        Strike::KillBroker,
        Strike::CrashPostgres,
        Strike::XeroErrors,
        Strike::RateLimitStorm,
        Strike::XeroLatency,
        Strike::ApplyThenFail,
        Strike::CutXero,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Strike::KillBroker => "RabbitMQ SIGKILLed and restarted",
            Strike::KillProcessor => "processor SIGKILLed and restarted",
            Strike::CrashPostgres => "PostgreSQL crashed (immediate) and restarted",
            Strike::XeroErrors => "Xero 500/502/503 runs",
            Strike::RateLimitStorm => "Xero 429 storms (limit 8/min for 15 s)",
            Strike::XeroLatency => "Xero latency (2.5 s for 8 s; 2 writes past the timeout)",
            Strike::ApplyThenFail => "Xero applied a write, then 500 or no answer",
            Strike::CutXero => "processor-Xero connection cut (4 s)",
        }
    }
}

/// A small seeded generator (SplitMix64), so a run's fault order can be repeated.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("below n fits usize")
    }
}

pub struct Monkey<'a> {
    pub broker: PrivateBroker,
    pub postgres: PrivatePostgres,
    pub processors: Processors,
    pub sim: &'a RunningSim,
    pub xero_proxy: Proxy,
    rng: Rng,
    started: Instant,
    pub struck: BTreeMap<Strike, u32>,
    pub log: Vec<String>,
}

impl<'a> Monkey<'a> {
    pub fn new(
        broker: PrivateBroker,
        postgres: PrivatePostgres,
        processors: Processors,
        sim: &'a RunningSim,
        xero_proxy: Proxy,
        seed: u64,
        started: Instant,
    ) -> Self {
        Monkey {
            broker,
            postgres,
            processors,
            sim,
            xero_proxy,
            rng: Rng::new(seed),
            started,
            struck: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    fn note(&mut self, what: String) {
        let line = format!("[{:>6.1} s] {what}", self.started.elapsed().as_secs_f64());
        println!("{line}");
        self.log.push(line);
    }

    /// Waits, restarting processors that exited by themselves meanwhile.
    pub async fn pause(&mut self, duration: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + duration;
        loop {
            let exits = self.processors.unplanned_exits.len();
            self.processors.supervise()?;
            let new: Vec<String> = self.processors.unplanned_exits[exits..].to_owned();
            for exit in new {
                self.note(format!("{exit}; started again"));
            }
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            tokio::time::sleep((until - now).min(Duration::from_millis(250))).await;
        }
    }

    /// Strikes every `every` until the load is done and every kind of fault has struck at
    /// least once (the kinds go round in a shuffled order, then round again).
    pub async fn run(
        &mut self,
        every: Duration,
        load_done: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut cycle: Vec<Strike> = Vec::new();
        let mut processor_next = true;
        loop {
            let all_struck = self.struck.len() == Strike::OTHERS.len() + 1;
            if *load_done.borrow() && all_struck {
                return Ok(());
            }
            self.pause(every).await?;
            let strike = if processor_next {
                Strike::KillProcessor
            } else {
                if cycle.is_empty() {
                    cycle = Strike::OTHERS.to_vec();
                    for i in (1..cycle.len()).rev() {
                        let j = self.rng.below(i + 1);
                        cycle.swap(i, j);
                    }
                }
                cycle.remove(0)
            };
            processor_next = !processor_next;
            self.strike(strike).await?;
        }
    }

    async fn strike(&mut self, strike: Strike) -> anyhow::Result<()> {
        *self.struck.entry(strike).or_default() += 1;
        self.note(format!("strike: {}", strike.label()));
        let writes =
            |kind: FaultKind, count: u32| Fault::new(kind).path_prefix(XERO_WRITES).times(count);
        match strike {
            Strike::KillBroker => {
                self.broker.kill()?;
                self.pause(Duration::from_secs(2)).await?;
                let restarting = Instant::now();
                self.broker.start_again().await?;
                self.note(format!(
                    "RabbitMQ back after {:.1} s of boot",
                    restarting.elapsed().as_secs_f64()
                ));
            }
            Strike::KillProcessor => {
                let i = self.rng.below(self.processors.count());
                self.processors.kill(i);
                self.note(format!("processor {i} killed"));
                self.pause(Duration::from_secs(1)).await?;
                self.processors.start(i)?;
            }
            Strike::CrashPostgres => {
                self.postgres.crash()?;
                self.pause(Duration::from_secs(2)).await?;
                self.postgres.start_again().await?;
                self.note("PostgreSQL back".into());
            }
            Strike::XeroErrors => {
                for (status, count) in [(500, 6), (502, 2), (503, 4)] {
                    self.sim
                        .inject_fault(writes(FaultKind::Status { status, body: None }, count));
                }
            }
            Strike::RateLimitStorm => {
                self.sim.set_rate_limits(RateLimits {
                    per_minute: 8,
                    ..RateLimits::default()
                });
                self.pause(Duration::from_secs(15)).await?;
                self.sim.set_rate_limits(RateLimits::default());
            }
            Strike::XeroLatency => {
                self.sim
                    .inject_fault(writes(FaultKind::Latency { ms: 7_000 }, 2).method("PUT"));
                self.sim.set_latency(Duration::from_millis(2_500));
                self.pause(Duration::from_secs(8)).await?;
                self.sim.set_latency(Duration::ZERO);
            }
            Strike::ApplyThenFail => {
                self.sim
                    .inject_fault(writes(FaultKind::ApplyThenStatus { status: 500 }, 4));
                self.sim.inject_fault(writes(FaultKind::ApplyThenDrop, 2));
            }
            Strike::CutXero => {
                self.xero_proxy.cut().await;
                self.pause(Duration::from_secs(4)).await?;
                self.xero_proxy.restore();
                self.sim.inject_fault(writes(FaultKind::Drop, 2));
            }
        }
        Ok(())
    }

    /// Undoes whatever is still in force, so the system can drain: every service up, every
    /// processor running, Xero healthy.
    pub async fn heal(&mut self) -> anyhow::Result<()> {
        if !self.broker.is_running() {
            self.broker.start_again().await?;
        }
        if !self.postgres.is_running() {
            self.postgres.start_again().await?;
        }
        for i in 0..self.processors.count() {
            if !self.processors.is_running(i) {
                self.processors.start(i)?;
            }
        }
        self.xero_proxy.restore();
        self.sim.clear_faults();
        self.sim.set_latency(Duration::ZERO);
        self.sim.set_rate_limits(RateLimits::default());
        self.note("faults over: every service up, Xero healthy".into());
        Ok(())
    }
}
