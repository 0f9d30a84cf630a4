//! Accepting connections, one thread each, and stopping them on Ctrl+C.
//!
//! A connection serves requests until the client closes it, asks for
//! `Connection: close`, sends something malformed (answered with a 4xx,
//! then closed) or the registry stops. A handler that panicked would answer
//! 500 and close only its connection.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use super::http::{Conn, ReadError, Response};
use super::routes::Registry;
use crate::accept;
use crate::shutdown::Stop;

/// How long a stopping registry waits for requests in flight.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Limits of the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections served at once.
    pub max_connections: usize,
    /// Largest request body in bytes.
    pub max_body: usize,
}

/// Serves until `stop` is raised, then closes the listener and waits for
/// the connections to finish the request in hand.
pub fn serve(
    registry: Arc<Registry>,
    listener: TcpListener,
    limits: Limits,
    stop: &Stop,
) -> io::Result<()> {
    let max = limits.max_connections;
    let serving = stop.clone();
    let handles = accept::accept_until_stopped(
        listener,
        stop,
        max,
        "registry-conn",
        move |stream, peer, _| {
            if let Err(e) = connection(&registry, stream, limits, &serving) {
                log::debug!("connection from {peer} ended: {e}");
            }
        },
    )?;
    accept::wait_for(handles, STOP_GRACE);
    Ok(())
}

/// Serves one connection's requests.
fn connection(
    registry: &Registry,
    stream: TcpStream,
    limits: Limits,
    stop: &Stop,
) -> io::Result<()> {
    let mut conn = Conn::new(stream, limits.max_body)?;
    loop {
        match conn.next_request(stop) {
            Ok(req) => {
                let resp = catch_unwind(AssertUnwindSafe(|| registry.handle(&req)));
                let (resp, keep) = match resp {
                    Ok(r) => (r, req.keep_alive && !stop.requested()),
                    Err(_) => {
                        log::error!("a handler panicked on {} {:?}", req.method, req.path);
                        (Response::error(500, 500, "internal error"), false)
                    }
                };
                conn.respond(&resp, keep)?;
                if !keep {
                    return Ok(());
                }
            }
            Err(ReadError::Closed | ReadError::Stopped) => return Ok(()),
            Err(ReadError::Bad(resp)) => return conn.respond(&resp, false),
            Err(ReadError::Io(e)) => return Err(e),
        }
    }
}
