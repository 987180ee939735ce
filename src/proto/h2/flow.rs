//! Flow-control windows (RFC 9113 §5.2, §6.9), sans-IO: what this end may send, and what it
//! lets the peer send, for the connection or one stream. Both roles keep one of each per
//! stream plus one of each for the connection.
//!
//! Errors name the window they are about: on stream 0 a connection error, on any other stream
//! a stream error, both `FLOW_CONTROL_ERROR` (§6.9, §6.9.1).

use super::frame::MAX_WINDOW_SIZE;
use super::ErrorCode;
use crate::error::{Error, Result};

/// A window this end sends under: how many octets of `DATA` it may still send (§6.9.1).
///
/// It may go negative when the peer lowers `SETTINGS_INITIAL_WINDOW_SIZE` (§6.9.2); nothing
/// may be sent until `WINDOW_UPDATE` frames bring it above zero again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendWindow {
    window: i64,
}

impl SendWindow {
    /// A window of `initial` octets: the peer's `SETTINGS_INITIAL_WINDOW_SIZE` for a stream,
    /// 65,535 for the connection (§6.9.2).
    pub fn new(initial: u32) -> SendWindow {
        SendWindow {
            window: i64::from(initial),
        }
    }

    /// How many octets may be sent now: the window if positive, else 0.
    pub fn available(&self) -> u32 {
        self.window.clamp(0, i64::from(MAX_WINDOW_SIZE)) as u32
    }

    /// The window as it stands, negative after a lowered initial window size.
    pub fn size(&self) -> i64 {
        self.window
    }

    /// Takes `n` octets of the window for a `DATA` frame about to be sent.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) if `n` is more than
    /// [`available`](Self::available): the sender must wait for the window.
    pub fn consume(&mut self, n: u32) -> Result<()> {
        if n > self.available() {
            return Err(Error::invalid_input(format!(
                "{n} octets of data over a send window of {}",
                self.window
            )));
        }
        self.window -= i64::from(n);
        Ok(())
    }

    /// Applies a `WINDOW_UPDATE` of `increment` for `stream_id` (0: the connection).
    ///
    /// # Errors
    ///
    /// §6.9.1: a window above 2^31 - 1 is a `FLOW_CONTROL_ERROR`, a connection error for the
    /// connection's window and a stream error for a stream's. The window is then unchanged.
    pub fn increase(&mut self, stream_id: u32, increment: u32) -> Result<()> {
        self.adjust(stream_id, i64::from(increment))
    }

    /// Moves the window by `delta`: the change of the peer's `SETTINGS_INITIAL_WINDOW_SIZE`,
    /// applied to every stream's window (§6.9.2), which may make it negative.
    ///
    /// # Errors
    ///
    /// As [`increase`](Self::increase), when the result is above 2^31 - 1 (§6.9.2 makes that a
    /// connection error whatever the window: the caller reports it so).
    pub fn adjust(&mut self, stream_id: u32, delta: i64) -> Result<()> {
        let next = self.window + delta;
        if next > i64::from(MAX_WINDOW_SIZE) {
            return Err(overflow(stream_id, next));
        }
        self.window = next;
        Ok(())
    }
}

/// A window this end receives under: how many octets of `DATA` the peer may still send, and
/// how many octets the application has consumed but this end has not yet given back with a
/// `WINDOW_UPDATE` (Go's `inflow`).
///
/// Credit is given back in batches, once at least half the target window is owed, so a
/// reader taking a few bytes at a time does not cost a `WINDOW_UPDATE` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvWindow {
    /// What the peer may still send.
    window: i64,
    /// Consumed by the application, not yet given back.
    unsent: u32,
    /// The window this end keeps the peer at: the initial window size it advertised.
    target: u32,
}

impl RecvWindow {
    /// A window of `initial` octets, which is also the size this end keeps it at.
    pub fn new(initial: u32) -> RecvWindow {
        RecvWindow {
            window: i64::from(initial),
            unsent: 0,
            target: initial.min(MAX_WINDOW_SIZE),
        }
    }

    /// How many octets the peer may still send.
    pub fn available(&self) -> i64 {
        self.window
    }

    /// Takes `n` octets (a `DATA` frame's whole payload, padding included: §6.9.1) that
    /// arrived on `stream_id` (0: the connection's window).
    ///
    /// # Errors
    ///
    /// §6.9.1: more than the window is a `FLOW_CONTROL_ERROR`, a connection error for the
    /// connection's window and a stream error for a stream's; the window is then unchanged.
    pub fn receive(&mut self, stream_id: u32, n: u32) -> Result<()> {
        if i64::from(n) > self.window {
            let what = format!(
                "{n} octets of data over a receive window of {}",
                self.window
            );
            return Err(if stream_id == 0 {
                Error::h2_connection(ErrorCode::FlowControl, what)
            } else {
                Error::h2_stream(stream_id, ErrorCode::FlowControl, what)
            });
        }
        self.window -= i64::from(n);
        Ok(())
    }

    /// Records that the application consumed `n` octets. Returns the increment of a
    /// `WINDOW_UPDATE` to send now, if enough credit is owed (at least half the target), and
    /// counts it as sent.
    pub fn release(&mut self, n: u32) -> Option<u32> {
        self.unsent = self.unsent.saturating_add(n);
        if self.unsent == 0 || self.unsent < self.target / 2 {
            return None;
        }
        self.flush()
    }

    /// The increment of a `WINDOW_UPDATE` giving back everything owed now, if anything is.
    pub fn flush(&mut self) -> Option<u32> {
        let room = i64::from(MAX_WINDOW_SIZE) - self.window;
        let inc = i64::from(self.unsent).min(room);
        self.unsent = 0;
        if inc <= 0 {
            return None;
        }
        self.window += inc;
        Some(inc as u32)
    }

    /// Raises the window to `target` octets (for a connection, whose initial window only a
    /// `WINDOW_UPDATE` can raise: §6.9.2). Returns the increment to send, if any.
    pub fn grow_to(&mut self, target: u32) -> Option<u32> {
        let target = target.min(MAX_WINDOW_SIZE);
        self.target = self.target.max(target);
        let inc = i64::from(target) - self.window;
        if inc <= 0 {
            return None;
        }
        self.window += inc;
        Some(inc as u32)
    }
}

fn overflow(stream_id: u32, next: i64) -> Error {
    let what = format!("flow-control window of {next}, above 2^31-1");
    if stream_id == 0 {
        Error::h2_connection(ErrorCode::FlowControl, what)
    } else {
        Error::h2_stream(stream_id, ErrorCode::FlowControl, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Http2Error;
    use crate::ErrorKind;

    fn h2(e: &Error) -> Http2Error {
        match e.kind() {
            ErrorKind::Http2(h) => h,
            other => panic!("not an http2 error: {other:?}"),
        }
    }

    #[test]
    fn send_window_table() {
        // (name, initial, steps, expected window or the error).
        enum Step {
            Consume(u32),
            Update(u32),
            Adjust(i64),
        }
        use Step::*;
        type Case = (
            &'static str,
            u32,
            &'static [Step],
            std::result::Result<i64, Http2Error>,
        );
        let cases: &[Case] = &[
            ("consume_all", 65_535, &[Consume(65_535)], Ok(0)),
            (
                "update_to_max",
                1,
                &[Update(MAX_WINDOW_SIZE - 1)],
                Ok(i64::from(MAX_WINDOW_SIZE)),
            ),
            (
                "update_overflow_stream",
                1,
                &[Update(MAX_WINDOW_SIZE)],
                Err(Http2Error::Stream {
                    stream_id: 1,
                    code: ErrorCode::FlowControl,
                }),
            ),
            (
                "settings_lower_goes_negative",
                100,
                &[Consume(100), Adjust(-50)],
                Ok(-50),
            ),
            ("negative_then_update", 0, &[Adjust(-10), Update(15)], Ok(5)),
            (
                "settings_raise_overflow",
                MAX_WINDOW_SIZE,
                &[Adjust(1)],
                Err(Http2Error::Stream {
                    stream_id: 1,
                    code: ErrorCode::FlowControl,
                }),
            ),
        ];
        for (name, initial, steps, want) in cases {
            let mut w = SendWindow::new(*initial);
            let mut got = Ok(());
            for s in *steps {
                got = match s {
                    Consume(n) => w.consume(*n),
                    Update(n) => w.increase(1, *n),
                    Adjust(d) => w.adjust(1, *d),
                };
                if got.is_err() {
                    break;
                }
            }
            match (got, want) {
                (Ok(()), Ok(v)) => assert_eq!(w.size(), *v, "{name}"),
                (Err(e), Err(h)) => assert_eq!(h2(&e), *h, "{name}"),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn send_window_refuses_overdraw() {
        let mut w = SendWindow::new(10);
        assert!(w.consume(11).is_err());
        assert_eq!(w.available(), 10);
        w.adjust(1, -20).unwrap();
        assert_eq!(w.available(), 0);
        assert!(w.consume(1).is_err());
    }

    #[test]
    fn connection_overflow_is_connection_error() {
        let mut w = SendWindow::new(65_535);
        let e = w.increase(0, MAX_WINDOW_SIZE).unwrap_err();
        assert_eq!(h2(&e), Http2Error::Connection(ErrorCode::FlowControl));
        assert_eq!(w.size(), 65_535);
    }

    #[test]
    fn recv_window_table() {
        // (name, initial, received, released, expected update, then window).
        type Case = (&'static str, u32, u32, u32, Option<u32>, i64);
        let cases: &[Case] = &[
            ("small_release_batched", 1000, 100, 100, None, 900),
            ("half_released_sends", 1000, 600, 500, Some(500), 900),
            ("all_released", 1000, 1000, 1000, Some(1000), 1000),
        ];
        for (name, initial, recv, rel, update, window) in cases {
            let mut w = RecvWindow::new(*initial);
            w.receive(3, *recv).unwrap();
            assert_eq!(w.release(*rel), *update, "{name}");
            assert_eq!(w.available(), *window, "{name}");
        }
    }

    #[test]
    fn recv_over_window_is_flow_control_error() {
        let mut w = RecvWindow::new(10);
        let e = w.receive(5, 11).unwrap_err();
        assert_eq!(
            h2(&e),
            Http2Error::Stream {
                stream_id: 5,
                code: ErrorCode::FlowControl
            }
        );
        let e = w.receive(0, 11).unwrap_err();
        assert_eq!(h2(&e), Http2Error::Connection(ErrorCode::FlowControl));
        assert_eq!(w.available(), 10);
    }

    #[test]
    fn grow_and_flush() {
        let mut w = RecvWindow::new(65_535);
        assert_eq!(w.grow_to(1 << 20), Some((1 << 20) - 65_535));
        assert_eq!(w.grow_to(1 << 20), None);
        w.receive(0, 10).unwrap();
        assert_eq!(w.release(10), None);
        assert_eq!(w.flush(), Some(10));
        assert_eq!(w.flush(), None);
        assert_eq!(w.available(), 1 << 20);
    }
}
