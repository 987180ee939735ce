//! The SOCKS5 client handshake (RFC 1928, with RFC 1929 username and password) for
//! `socks5://` and `socks5h://` proxies, run on the dial thread before any HTTP; Go carries
//! the same client in its `socks_bundle.go`. proxy.rs calls [`handshake`].
//!
//! The target's host name goes to the proxy as a name, to be resolved there, for both schemes
//! (as Go does); an IP literal goes as an address.

use std::io;
use std::net::IpAddr;
use std::time::Instant;

use crate::deadline::{self, TimeoutSlot};
use crate::error::{ClosedDuring, Error, ErrorKind, Result, TimeoutPhase};
use crate::net::{Stream, Target};

use super::proxy::SocksAuth;

const VERSION: u8 = 5;
const METHOD_NONE: u8 = 0x00;
const METHOD_USER_PASS: u8 = 0x02;
const METHOD_NO_ACCEPTABLE: u8 = 0xff;
const CMD_CONNECT: u8 = 0x01;
const ATYP_IPV4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_IPV6: u8 = 0x04;
/// RFC 1929 §2: the version of the username/password subnegotiation.
const USER_PASS_VERSION: u8 = 0x01;

/// The greeting: version and the methods offered (RFC 1928 §3). With credentials both "none"
/// and username/password are offered, as Go does.
fn greeting(auth: bool) -> &'static [u8] {
    if auth {
        &[VERSION, 2, METHOD_NONE, METHOD_USER_PASS]
    } else {
        &[VERSION, 1, METHOD_NONE]
    }
}

/// The username/password request (RFC 1929 §2).
fn auth_request(auth: &SocksAuth) -> Result<Vec<u8>> {
    let (u, p) = (auth.user.as_bytes(), auth.password.as_bytes());
    if u.is_empty() || u.len() > 255 || p.is_empty() || p.len() > 255 {
        return Err(Error::invalid_input(
            "socks5 username and password must each be 1 to 255 bytes",
        ));
    }
    let mut b = Vec::with_capacity(3 + u.len() + p.len());
    b.extend_from_slice(&[USER_PASS_VERSION, u.len() as u8]);
    b.extend_from_slice(u);
    b.push(p.len() as u8);
    b.extend_from_slice(p);
    Ok(b)
}

/// The CONNECT request for `target` (RFC 1928 §4): an IP literal as an address, any other host
/// as a domain name.
fn connect_request(target: &Target) -> Result<Vec<u8>> {
    let mut b = vec![VERSION, CMD_CONNECT, 0];
    match target.host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            b.push(ATYP_IPV4);
            b.extend_from_slice(&ip.octets());
        }
        Ok(IpAddr::V6(ip)) => {
            b.push(ATYP_IPV6);
            b.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            let name = target.host.as_bytes();
            if name.is_empty() || name.len() > 255 {
                return Err(Error::invalid_input(format!(
                    "host name of {} bytes cannot be sent to a socks5 proxy (1 to 255)",
                    name.len()
                )));
            }
            b.extend_from_slice(&[ATYP_DOMAIN, name.len() as u8]);
            b.extend_from_slice(name);
        }
    }
    b.extend_from_slice(&target.port.to_be_bytes());
    Ok(b)
}

/// An error for something the proxy said: kind [`ErrorKind::Io`] with an [`io::Error`] of
/// `kind` as the source.
fn proxy_error(kind: io::ErrorKind, msg: String) -> Error {
    Error::with_source(ErrorKind::Io, io::Error::new(kind, msg))
}

fn invalid_reply(what: String) -> Error {
    proxy_error(
        io::ErrorKind::InvalidData,
        format!("invalid socks5 reply: {what}"),
    )
}

/// A failed CONNECT (RFC 1928 §6 reply codes): [`ErrorKind::Connect`] naming the target, with
/// an [`io::Error`] saying what the proxy replied.
fn reply_error(code: u8, target: &Target) -> Error {
    use io::ErrorKind as K;
    let (kind, text) = match code {
        0x01 => (K::Other, "general socks server failure".to_string()),
        0x02 => (
            K::PermissionDenied,
            "connection not allowed by ruleset".into(),
        ),
        0x03 => (K::NetworkUnreachable, "network unreachable".into()),
        0x04 => (K::HostUnreachable, "host unreachable".into()),
        0x05 => (K::ConnectionRefused, "connection refused".into()),
        0x06 => (K::Other, "ttl expired".into()),
        0x07 => (K::Unsupported, "command not supported".into()),
        0x08 => (K::Unsupported, "address type not supported".into()),
        other => (K::Other, format!("reply code {other}")),
    };
    // The proxy could not (or would not) connect: nothing of the request was sent.
    Error::with_source(
        ErrorKind::Connect,
        io::Error::new(kind, format!("socks5 proxy: {text}")),
    )
    .with_subject(target)
}

/// Reads and writes exactly what the protocol says, never a byte more (what follows the reply
/// belongs to the tunnel), all by one deadline.
struct Wire<'a> {
    stream: &'a dyn Stream,
    rslot: TimeoutSlot,
    wslot: TimeoutSlot,
    deadline: Option<Instant>,
}

impl Wire<'_> {
    fn write(&mut self, b: &[u8]) -> Result<()> {
        deadline::write_all(self.stream, &mut self.wslot, self.deadline, &[b])
            .map_err(|e| Error::from_io(e, TimeoutPhase::Connect))
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        let mut at = 0;
        while at < buf.len() {
            let n = deadline::read(self.stream, &mut self.rslot, self.deadline, &mut buf[at..])
                .map_err(|e| Error::from_io(e, TimeoutPhase::Connect))?;
            if n == 0 {
                return Err(Error::closed(ClosedDuring::Head));
            }
            at += n;
        }
        Ok(())
    }

    fn read<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.read_exact(&mut b)?;
        Ok(b)
    }
}

/// Asks the SOCKS5 proxy on `stream` for a connection to `target`, authenticating with `auth`
/// if the proxy wants it, by `deadline`. On success the stream is a byte pipe to `target`.
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] for credentials or a host name the protocol cannot carry
/// (checked before anything is sent); [`ErrorKind::Connect`] naming the target when the proxy
/// could not connect to it; [`ErrorKind::Io`] for other refusals (the source is an
/// [`io::Error`]: `PermissionDenied` for rejected credentials or a ruleset,
/// `ConnectionRefused`, `HostUnreachable`... for the reply codes, `InvalidData` for a reply
/// that is not SOCKS5); [`ErrorKind::Timeout`] ([`TimeoutPhase::Connect`]) at the deadline;
/// [`ErrorKind::ConnectionClosed`] if the proxy hangs up.
pub(crate) fn handshake(
    stream: &dyn Stream,
    target: &Target,
    auth: Option<&SocksAuth>,
    deadline: Option<Instant>,
) -> Result<()> {
    let request = connect_request(target)?;
    let auth_msg = auth.map(auth_request).transpose()?;
    let mut w = Wire {
        stream,
        rslot: TimeoutSlot::default(),
        wslot: TimeoutSlot::default(),
        deadline,
    };
    w.write(greeting(auth.is_some()))?;
    let [version, method] = w.read::<2>()?;
    if version != VERSION {
        return Err(invalid_reply(format!("version {version}")));
    }
    match (method, &auth_msg) {
        (METHOD_NONE, _) => {}
        (METHOD_USER_PASS, Some(msg)) => {
            w.write(msg)?;
            let [v, status] = w.read::<2>()?;
            if v != USER_PASS_VERSION {
                return Err(invalid_reply(format!(
                    "username/password subnegotiation version {v}"
                )));
            }
            if status != 0 {
                return Err(proxy_error(
                    io::ErrorKind::PermissionDenied,
                    "socks5 proxy rejected the username and password".into(),
                ));
            }
        }
        (METHOD_NO_ACCEPTABLE, _) => {
            return Err(proxy_error(
                io::ErrorKind::PermissionDenied,
                "socks5 proxy accepts none of the offered authentication methods".into(),
            ))
        }
        (other, _) => {
            return Err(invalid_reply(format!(
                "authentication method {other}, which was not offered"
            )))
        }
    }
    w.write(&request)?;
    let [version, reply, reserved, atyp] = w.read::<4>()?;
    if version != VERSION {
        return Err(invalid_reply(format!("version {version}")));
    }
    if reply != 0 {
        return Err(reply_error(reply, target));
    }
    if reserved != 0 {
        return Err(invalid_reply(format!("reserved byte {reserved}")));
    }
    // The address the proxy bound, then its port: read and ignored.
    let addr_len = match atyp {
        ATYP_IPV4 => 4,
        ATYP_IPV6 => 16,
        ATYP_DOMAIN => usize::from(w.read::<1>()?[0]),
        other => return Err(invalid_reply(format!("address type {other}"))),
    };
    let mut rest = [0u8; 255 + 2];
    w.read_exact(&mut rest[..addr_len + 2])?;
    // Whoever uses the tunnel sets its own timeouts.
    let _ = stream.set_read_timeout(None);
    let _ = stream.set_write_timeout(None);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: u16) -> Target {
        Target {
            scheme: "http".into(),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn requests_on_the_wire() {
        let cases: &[(&str, Target, &[u8])] = &[
            (
                "domain",
                target("example.com", 80),
                b"\x05\x01\x00\x03\x0bexample.com\x00\x50",
            ),
            (
                "ipv4",
                target("10.1.2.3", 443),
                b"\x05\x01\x00\x01\x0a\x01\x02\x03\x01\xbb",
            ),
            (
                "ipv6",
                target("::1", 8080),
                b"\x05\x01\x00\x04\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x1f\x90",
            ),
        ];
        for (name, t, want) in cases {
            assert_eq!(connect_request(t).unwrap(), *want, "{name}");
        }
        let long = "a".repeat(256);
        let e = connect_request(&target(&long, 80)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid input: host name of 256 bytes cannot be sent to a socks5 proxy (1 to 255)"
        );
        let auth = SocksAuth {
            user: "u".into(),
            password: "pw".into(),
        };
        assert_eq!(auth_request(&auth).unwrap(), b"\x01\x01u\x02pw");
        let empty = SocksAuth {
            user: "u".into(),
            password: String::new(),
        };
        assert_eq!(
            auth_request(&empty).unwrap_err().to_string(),
            "invalid input: socks5 username and password must each be 1 to 255 bytes"
        );
        assert!(!format!("{auth:?}").contains("pw"));
    }

    #[test]
    fn reply_codes_name_their_meaning() {
        let t = target("example.com", 80);
        let e = reply_error(5, &t);
        assert_eq!(e.kind(), ErrorKind::Connect);
        assert!(e.is_connect());
        assert_eq!(
            e.to_string(),
            "cannot connect to example.com:80: socks5 proxy: connection refused"
        );
        let src = std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<io::Error>())
            .unwrap();
        assert_eq!(src.kind(), io::ErrorKind::ConnectionRefused);
        assert!(reply_error(99, &t).to_string().ends_with("reply code 99"));
    }
}
