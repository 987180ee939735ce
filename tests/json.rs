//! JSON bodies in handlers (feature `json`): `Request::read_json` with a size limit and
//! `handlers::write_json`, end to end over sockets with the client's JSON helpers.

mod policy_support;

use nethttp::client::Client;
use nethttp::error::TooLarge;
use nethttp::handlers::{self, write_json};
use nethttp::{httptest, ErrorKind, Method, ServeMux, StatusCode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Item {
    id: u32,
    name: String,
}

/// A client that uses no proxy and gives up after 10 s.
fn client() -> Client {
    Client::with_config(policy_support::config())
}

fn server() -> httptest::Server {
    let mut mux = ServeMux::new();
    mux.handle_func("POST /items", |w, r| match r.read_json::<Item>(1024) {
        Ok(mut item) => {
            item.id += 1;
            write_json(w, StatusCode::CREATED, &item);
        }
        Err(e) => {
            let status = e.status_hint().unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            handlers::error(w, &e.to_string(), status);
        }
    });
    httptest::Server::new(mux)
}

#[test]
fn read_json_and_write_json_round_trip() {
    let ts = server();
    let c = client();
    let url = format!("{}/items", ts.url());
    let mut resp = c
        .request(Method::POST, &url)
        .json(&Item {
            id: 1,
            name: "milk".into(),
        })
        .send()
        .unwrap();
    assert_eq!(resp.status, StatusCode::CREATED);
    assert_eq!(resp.headers["content-type"], "application/json");
    let item: Item = resp.json().unwrap();
    assert_eq!(
        item,
        Item {
            id: 2,
            name: "milk".into()
        }
    );
}

#[test]
fn bad_and_big_json_bodies_are_400_and_413() {
    let ts = server();
    let c = client();
    let url = format!("{}/items", ts.url());
    for (name, body, want) in [
        ("not_json", "{id: 1}".to_string(), StatusCode::BAD_REQUEST),
        (
            "wrong_shape",
            "{\"id\": \"x\"}".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "over_the_limit",
            format!("{{\"id\": 1, \"name\": \"{}\"}}", "x".repeat(2000)),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ] {
        let resp = c
            .request(Method::POST, &url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(resp.status, want, "{name}");
    }
    // The kinds, without a server.
    let mut r = nethttp::Request::new(Method::POST, "/x")
        .unwrap()
        .with_body("[1,");
    assert_eq!(
        r.read_json::<Vec<u8>>(100).unwrap_err().kind(),
        ErrorKind::Decode
    );
    let mut r = nethttp::Request::new(Method::POST, "/x")
        .unwrap()
        .with_body("[1,2,3]");
    assert_eq!(
        r.read_json::<Vec<u8>>(3).unwrap_err().kind(),
        ErrorKind::TooLarge(TooLarge::Body)
    );
}
