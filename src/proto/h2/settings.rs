//! `SETTINGS` state (RFC 9113 §6.5), sans-IO: the values in effect at each end, the peer's
//! frames applied in order, and this end's frames until the peer acknowledges them.

use std::collections::VecDeque;

use super::frame::{Settings, DEFAULT_MAX_FRAME_SIZE, DEFAULT_WINDOW_SIZE};
use super::ErrorCode;
use crate::error::{Error, Result};

/// The settings in effect for one end, each with its initial value until a `SETTINGS` frame
/// changes it (§6.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Values {
    /// `SETTINGS_HEADER_TABLE_SIZE`: 4096 initially.
    pub header_table_size: u32,
    /// `SETTINGS_ENABLE_PUSH`: true initially.
    pub enable_push: bool,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`: no limit (`None`) initially.
    pub max_concurrent_streams: Option<u32>,
    /// `SETTINGS_INITIAL_WINDOW_SIZE`: 65,535 initially.
    pub initial_window_size: u32,
    /// `SETTINGS_MAX_FRAME_SIZE`: 16,384 initially.
    pub max_frame_size: u32,
    /// `SETTINGS_MAX_HEADER_LIST_SIZE`: no limit (`None`) initially.
    pub max_header_list_size: Option<u32>,
}

impl Default for Values {
    fn default() -> Values {
        Values {
            header_table_size: 4096,
            enable_push: true,
            max_concurrent_streams: None,
            initial_window_size: DEFAULT_WINDOW_SIZE,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: None,
        }
    }
}

/// What applying a `SETTINGS` frame changed that the connection must act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Changes {
    /// The change of `SETTINGS_INITIAL_WINDOW_SIZE`, to add to every stream's window
    /// (§6.9.2); 0 if unchanged.
    pub window_delta: i64,
    /// A new `SETTINGS_HEADER_TABLE_SIZE`: the peer's HPACK decoder limit, for this end's
    /// encoder (when applied to the peer's values).
    pub header_table_size: Option<u32>,
}

impl Values {
    /// Applies the parameters a frame carries (the decoder already checked their ranges:
    /// §6.5.2) and says what changed.
    pub fn apply(&mut self, s: &Settings) -> Changes {
        let mut changes = Changes::default();
        if let Some(v) = s.header_table_size {
            self.header_table_size = v;
            changes.header_table_size = Some(v);
        }
        if let Some(v) = s.enable_push {
            self.enable_push = v;
        }
        if let Some(v) = s.max_concurrent_streams {
            self.max_concurrent_streams = Some(v);
        }
        if let Some(v) = s.initial_window_size {
            changes.window_delta = i64::from(v) - i64::from(self.initial_window_size);
            self.initial_window_size = v;
        }
        if let Some(v) = s.max_frame_size {
            self.max_frame_size = v;
        }
        if let Some(v) = s.max_header_list_size {
            self.max_header_list_size = Some(v);
        }
        changes
    }
}

/// This end's settings: the values the peer has acknowledged, and the frames sent and not yet
/// acknowledged, oldest first (§6.5.3: acknowledgements come in the order the frames went).
#[derive(Debug, Clone, Default)]
pub struct Local {
    acked: Values,
    unacked: VecDeque<Settings>,
}

impl Local {
    /// The initial values, nothing sent yet.
    pub fn new() -> Local {
        Local::default()
    }

    /// Records a `SETTINGS` frame this end is sending.
    pub fn sent(&mut self, s: Settings) {
        self.unacked.push_back(s);
    }

    /// The values the peer has acknowledged.
    pub fn acked(&self) -> &Values {
        &self.acked
    }

    /// How many frames wait for their acknowledgement.
    pub fn unacked(&self) -> usize {
        self.unacked.len()
    }

    /// Applies the oldest unacknowledged frame on the peer's `ACK` and returns what changed.
    ///
    /// # Errors
    ///
    /// A `PROTOCOL_ERROR` connection error for an `ACK` with nothing to acknowledge (as Go's
    /// server treats it).
    pub fn ack(&mut self) -> Result<Changes> {
        let Some(s) = self.unacked.pop_front() else {
            return Err(Error::h2_connection(
                ErrorCode::Protocol,
                "settings ack without settings to acknowledge",
            ));
        };
        Ok(self.acked.apply(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::h2::frame::{Decoded, Frame, FrameDecoder, FrameLimits};

    /// Decodes one SETTINGS frame from raw bytes.
    fn settings(raw: &[u8]) -> Settings {
        let mut dec = FrameDecoder::new(FrameLimits::default());
        match dec.decode(raw).unwrap() {
            Decoded::Frame {
                frame: Frame::Settings(s),
                ..
            } => s,
            other => panic!("not settings: {other:?}"),
        }
    }

    #[test]
    fn apply_table() {
        // (name, raw frame, window delta, table size change, max frame size after).
        type Case = (&'static str, &'static [u8], i64, Option<u32>, u32);
        let cases: &[Case] = &[
            ("empty", b"\0\0\0\x04\0\0\0\0\0", 0, None, 16_384),
            (
                "window_down",
                b"\0\0\x06\x04\0\0\0\0\0\0\x04\0\0\0\x10",
                16 - 65_535,
                None,
                16_384,
            ),
            (
                "window_up_and_frame",
                b"\0\0\x0c\x04\0\0\0\0\0\0\x04\0\x01\0\0\0\x05\0\0\x80\0",
                65_536 - 65_535,
                None,
                32_768,
            ),
            (
                "table_twice_last_wins",
                b"\0\0\x0c\x04\0\0\0\0\0\0\x01\0\0\0\x01\0\x01\0\0\0\x02",
                0,
                Some(2),
                16_384,
            ),
        ];
        for (name, raw, delta, table, mfs) in cases {
            let mut v = Values::default();
            let c = v.apply(&settings(raw));
            assert_eq!(c.window_delta, *delta, "{name}");
            assert_eq!(c.header_table_size, *table, "{name}");
            assert_eq!(v.max_frame_size, *mfs, "{name}");
        }
    }

    #[test]
    fn acks_apply_in_order() {
        let mut l = Local::new();
        assert!(l.ack().is_err(), "an ack with nothing sent");
        l.sent(Settings {
            initial_window_size: Some(1 << 20),
            ..Settings::default()
        });
        l.sent(Settings {
            max_concurrent_streams: Some(100),
            ..Settings::default()
        });
        assert_eq!(l.unacked(), 2);
        let c = l.ack().unwrap();
        assert_eq!(c.window_delta, (1 << 20) - 65_535);
        assert_eq!(l.acked().max_concurrent_streams, None);
        l.ack().unwrap();
        assert_eq!(l.acked().max_concurrent_streams, Some(100));
        assert_eq!(l.unacked(), 0);
    }
}
