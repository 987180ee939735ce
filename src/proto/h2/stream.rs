//! Stream states (RFC 9113 §5.1) and stream identifiers (§5.1.1), sans-IO and role-neutral.
//! Server push is not supported, so the `reserved` states never occur.

use super::ErrorCode;
use crate::error::{Error, Result};

/// A stream's state (§5.1), without the `reserved` states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not yet opened.
    Idle,
    /// Both ends may send.
    Open,
    /// This end sent `END_STREAM`; the peer may still send.
    HalfClosedLocal,
    /// The peer sent `END_STREAM`; this end may still send.
    HalfClosedRemote,
    /// Both ends are done, or the stream was reset.
    Closed,
}

impl State {
    /// Opened by a `HEADERS` frame (sent or received), which may also end its sender's side.
    ///
    /// # Errors
    ///
    /// A `PROTOCOL_ERROR` stream error for `stream_id` if the stream is not idle.
    pub fn open(self, stream_id: u32, end_stream: bool, local: bool) -> Result<State> {
        if self != State::Idle {
            return Err(Error::h2_stream(
                stream_id,
                ErrorCode::Protocol,
                "headers opening a stream that is not idle",
            ));
        }
        Ok(match (end_stream, local) {
            (false, _) => State::Open,
            (true, true) => State::HalfClosedLocal,
            (true, false) => State::HalfClosedRemote,
        })
    }

    /// The peer sent `END_STREAM`.
    pub fn recv_end(self) -> State {
        match self {
            State::Open => State::HalfClosedRemote,
            State::HalfClosedLocal => State::Closed,
            other => other,
        }
    }

    /// This end sent `END_STREAM`.
    pub fn send_end(self) -> State {
        match self {
            State::Open => State::HalfClosedLocal,
            State::HalfClosedRemote => State::Closed,
            other => other,
        }
    }

    /// True if the peer may still send `DATA` or trailers (§5.1: `open` or
    /// `half-closed (local)`).
    pub fn can_recv(self) -> bool {
        matches!(self, State::Open | State::HalfClosedLocal)
    }

    /// True if this end may still send `DATA` or trailers.
    pub fn can_send(self) -> bool {
        matches!(self, State::Open | State::HalfClosedRemote)
    }

    /// True if the stream counts against `SETTINGS_MAX_CONCURRENT_STREAMS` (§5.1.2: `open`
    /// and both `half-closed` states).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            State::Open | State::HalfClosedLocal | State::HalfClosedRemote
        )
    }
}

/// Checks the identifier of a stream the peer opens with `HEADERS` (§5.1.1): odd for a
/// client's stream, even for a server's, and above every stream the peer opened before
/// (`last`).
///
/// # Errors
///
/// A `PROTOCOL_ERROR` connection error otherwise (Go's server answers a reused identifier
/// this way too; §5.1.1 requires it for one that goes backwards).
pub fn check_peer_opens(stream_id: u32, last: u32, peer_is_client: bool) -> Result<()> {
    if (stream_id % 2 == 1) != peer_is_client {
        return Err(Error::h2_connection(
            ErrorCode::Protocol,
            format!("stream {stream_id} opened with an identifier of the wrong parity"),
        ));
    }
    if stream_id <= last {
        return Err(Error::h2_connection(
            ErrorCode::Protocol,
            format!("stream {stream_id} opened after stream {last}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions() {
        use State::*;
        // (name, start, event, end).
        let cases: &[(&str, State, &str, State)] = &[
            ("recv_headers", Idle, "recv_open", Open),
            ("recv_headers_end", Idle, "recv_open_end", HalfClosedRemote),
            ("send_headers_end", Idle, "send_open_end", HalfClosedLocal),
            ("open_recv_end", Open, "recv_end", HalfClosedRemote),
            ("open_send_end", Open, "send_end", HalfClosedLocal),
            ("hcr_send_end", HalfClosedRemote, "send_end", Closed),
            ("hcl_recv_end", HalfClosedLocal, "recv_end", Closed),
            ("closed_stays", Closed, "recv_end", Closed),
        ];
        for (name, start, event, end) in cases {
            let got = match *event {
                "recv_open" => start.open(1, false, false).unwrap(),
                "recv_open_end" => start.open(1, true, false).unwrap(),
                "send_open_end" => start.open(1, true, true).unwrap(),
                "recv_end" => start.recv_end(),
                "send_end" => start.send_end(),
                _ => unreachable!(),
            };
            assert_eq!(got, *end, "{name}");
        }
        assert!(Open.open(1, false, false).is_err());
        assert!(HalfClosedLocal.can_recv() && !HalfClosedLocal.can_send());
        assert!(HalfClosedRemote.can_send() && !HalfClosedRemote.can_recv());
        assert!(!Closed.is_active() && !Idle.is_active() && Open.is_active());
    }

    #[test]
    fn peer_stream_ids() {
        // (name, id, last, peer is client, ok).
        let cases = [
            ("first_client", 1, 0, true, true),
            ("even_from_client", 2, 0, true, false),
            ("backwards", 3, 5, true, false),
            ("reused", 5, 5, true, false),
            ("skip_ahead", 101, 5, true, true),
            ("server_even", 2, 0, false, true),
        ];
        for (name, id, last, client, ok) in cases {
            assert_eq!(check_peer_opens(id, last, client).is_ok(), ok, "{name}");
        }
    }
}
