//! Loopback ports for peer processes, shared by the `peers` and `policy_support` test
//! helpers.

/// A free port on 127.0.0.1 (bound and released; callers retry if someone takes it first).
/// Tests run in parallel threads, and the kernel may hand a just-released port to the next
/// bind: two peers would then race for one port, and the loser's readiness probe would reach
/// the winner. So a port is never handed out twice in one test process.
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if given.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}
