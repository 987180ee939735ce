//! What one thread-to-thread hand-off costs on this machine: the unit price of the client's
//! reader/writer design and of the server's thread per connection.
//!
//! ```sh
//! cargo bench --bench handoff            # 50 000 round trips per method
//! HANDOFF_ROUNDS=200000 cargo bench --bench handoff
//! ```
//!
//! Two threads pass a token back and forth; each round trip is two hand-offs. Printed per
//! method: wall time and process CPU time (user + system, from `/proc/self/stat`, Linux only)
//! per round trip.
//!
//! - `crossbeam recv` : `bounded(1)` channels with crossbeam's blocking `recv`, which spins and
//!   yields before it parks, so an immediate answer is caught while still spinning.
//! - `park/unpark`    : `try_recv` then `std::thread::park`, the sender unparks: what
//!   nethttp's client waits do (`src/client/wake.rs`).
//! - `tcp loopback`   : one byte each way over a loopback TCP connection (`TCP_NODELAY`), a
//!   blocking `read` on each side: what a server thread and its client pay per request.
//!
//! Ping-pong is the worst case for parking (the answer is always immediate) and the best case
//! for spinning; a client hand-off waits for a network round trip, where spinning never wins.
//! The point of the numbers is the price of waking a parked thread: on a 2-vCPU guest whose
//! idle vCPUs halt, waking a thread on the other vCPU is far dearer than on bare metal (see
//! docs/PERFORMANCE.md, "What a hand-off costs here").

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::TryRecvError;

/// Process CPU time (user + system), if `/proc/self/stat` is readable.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit(')').next()?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Linux reports clock ticks of 1/100 s (USER_HZ) on every common configuration.
    Some(Duration::from_millis((utime + stime) * 10))
}

struct Measured {
    wall: Duration,
    cpu: Option<Duration>,
}

fn measure(f: impl FnOnce()) -> Measured {
    let c0 = cpu_time();
    let t0 = Instant::now();
    f();
    let wall = t0.elapsed();
    let cpu = match (c0, cpu_time()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    Measured { wall, cpu }
}

fn crossbeam_recv(rounds: u64) -> Measured {
    let (to_tx, to_rx) = crossbeam_channel::bounded::<u64>(1);
    let (back_tx, back_rx) = crossbeam_channel::bounded::<u64>(1);
    let echo = thread::spawn(move || {
        while let Ok(v) = to_rx.recv() {
            if back_tx.send(v).is_err() {
                break;
            }
        }
    });
    let m = measure(|| {
        for i in 0..rounds {
            to_tx.send(i).expect("echo thread alive");
            back_rx.recv().expect("echo thread alive");
        }
    });
    drop(to_tx);
    echo.join().expect("echo thread");
    m
}

fn park_unpark(rounds: u64) -> Measured {
    let (to_tx, to_rx) = crossbeam_channel::bounded::<u64>(1);
    let (back_tx, back_rx) = crossbeam_channel::bounded::<u64>(1);
    let main = thread::current();
    let echo = thread::spawn(move || loop {
        match to_rx.try_recv() {
            Ok(v) => {
                if back_tx.send(v).is_err() {
                    break;
                }
                main.unpark();
            }
            Err(TryRecvError::Empty) => thread::park(),
            Err(TryRecvError::Disconnected) => break,
        }
    });
    let echo_thread = echo.thread().clone();
    let m = measure(|| {
        for i in 0..rounds {
            to_tx.send(i).expect("echo thread alive");
            echo_thread.unpark();
            loop {
                match back_rx.try_recv() {
                    Ok(_) => break,
                    Err(TryRecvError::Empty) => thread::park(),
                    Err(TryRecvError::Disconnected) => panic!("echo thread gone"),
                }
            }
        }
    });
    drop(to_tx);
    echo_thread.unpark();
    echo.join().expect("echo thread");
    m
}

fn tcp_loopback(rounds: u64) -> std::io::Result<Measured> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut client = TcpStream::connect(listener.local_addr()?)?;
    let (mut server, _) = listener.accept()?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    // A bound on every read, so a broken run fails instead of hanging.
    client.set_read_timeout(Some(Duration::from_secs(5)))?;
    server.set_read_timeout(Some(Duration::from_secs(5)))?;
    let echo = thread::spawn(move || -> std::io::Result<()> {
        let mut b = [0u8; 1];
        while server.read(&mut b)? == 1 {
            server.write_all(&b)?;
        }
        Ok(())
    });
    let mut result = Ok(());
    let m = measure(|| {
        let mut b = [7u8; 1];
        for _ in 0..rounds {
            if let Err(e) = client
                .write_all(&b)
                .and_then(|()| client.read_exact(&mut b))
            {
                result = Err(e);
                return;
            }
        }
    });
    drop(client);
    echo.join().expect("echo thread")?;
    result.map(|()| m)
}

fn report(name: &str, rounds: u64, m: &Measured) {
    let per = |d: Duration| d.as_secs_f64() * 1e6 / rounds as f64;
    let cpu = m
        .cpu
        .map_or_else(|| "n/a".to_string(), |c| format!("{:.2} µs", per(c)));
    println!(
        "{name:<16} {:>8.2} µs wall   {cpu:>10} CPU   per round trip (2 hand-offs)",
        per(m.wall)
    );
}

fn main() {
    // Arguments (`cargo bench` passes `--bench`) are ignored; the count comes from the
    // environment.
    let rounds: u64 = std::env::var("HANDOFF_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(50_000);
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    println!("handoff: {rounds} round trips per method, {cpus} CPUs available");
    // Warm up thread creation and the allocator.
    crossbeam_recv(1_000);
    report("crossbeam recv", rounds, &crossbeam_recv(rounds));
    report("park/unpark", rounds, &park_unpark(rounds));
    match tcp_loopback(rounds) {
        Ok(m) => report("tcp loopback", rounds, &m),
        Err(e) => println!("tcp loopback     failed: {e}"),
    }
}
