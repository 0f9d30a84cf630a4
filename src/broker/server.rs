//! Accepting connections and serving each on its own thread, with blocking I/O.
//!
//! A connection reads size-prefixed frames, one request at a time, and
//! answers in order. A frame length over the limit (or negative), a request
//! that cannot be decoded, an unknown API key or an unsupported version closes
//! that connection only (ApiVersions answers UNSUPPORTED_VERSION instead, as
//! Kafka does). Nothing a client sends reaches a panic; if a handler panicked
//! anyway, only that connection would close.

use anyhow::Result;
use bytes::{Bytes, BytesMut};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::wire::{self, ConnError};
use super::{apis, lock, Broker};
use crate::shutdown::Stop;

/// How long a connection may sit idle before it is closed (Kafka's connections.max.idle.ms).
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a response write may make no progress before the connection is closed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopping broker waits for in-flight requests before closing connections.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Serves clients until `stop` is raised, then stops accepting, lets in-flight
/// requests finish, and returns.
pub fn serve(broker: Arc<Broker>, listener: TcpListener, stop: &Stop) -> Result<()> {
    listener.set_nonblocking(true)?;
    let active = Arc::new(AtomicUsize::new(0));
    let streams: Arc<Mutex<Vec<(u64, TcpStream)>>> = Arc::default();
    let mut handles = Vec::new();
    let mut next_id = 0u64;
    while !stop.requested() {
        match listener.accept() {
            Ok((stream, peer)) => {
                let _ = stream.set_nonblocking(false);
                if active.load(Ordering::SeqCst) >= broker.config.max_connections {
                    log::warn!(
                        "refusing connection from {peer}: {} connections already (--max-connections)",
                        broker.config.max_connections
                    );
                    let _ = stream.shutdown(Shutdown::Both);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                // An idle client is dropped after Kafka's connections.max.idle.ms
                // (10 min); one that stops reading cannot hold a thread forever.
                let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
                let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
                next_id += 1;
                let id = next_id;
                if let Ok(clone) = stream.try_clone() {
                    lock(&streams).push((id, clone));
                }
                active.fetch_add(1, Ordering::SeqCst);
                let broker = broker.clone();
                let active = active.clone();
                let streams = streams.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("conn-{id}"))
                    .spawn(move || {
                        log::debug!("connection {id} from {peer}");
                        let outcome =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                connection(&broker, stream)
                            }));
                        match outcome {
                            Ok(Ok(())) => log::debug!("connection {id} from {peer} closed"),
                            Ok(Err(e)) => log::info!("connection {id} from {peer} closed: {e}"),
                            Err(_) => log::error!(
                                "connection {id} from {peer}: handler panicked; connection closed"
                            ),
                        }
                        lock(&streams).retain(|(i, _)| *i != id);
                        active.fetch_sub(1, Ordering::SeqCst);
                    });
                match spawned {
                    Ok(h) => handles.push(h),
                    Err(e) => log::error!("cannot start a connection thread: {e}"),
                }
                handles.retain(|h| !h.is_finished());
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                stop.wait_timeout(Duration::from_millis(20));
            }
            Err(e) => {
                log::warn!("accept failed: {e}");
                stop.wait_timeout(Duration::from_millis(20));
            }
        }
    }
    log::info!("stopping: no new connections; finishing requests in flight");
    drop(listener);
    broker.begin_stop();
    // Connections idle in a read are woken by shutting their read side; a
    // request being handled still gets its response written.
    for (_, s) in lock(&streams).iter() {
        let _ = s.shutdown(Shutdown::Read);
    }
    // In-flight responses get a few seconds to go out; a client that does not
    // read them is then cut off so the broker can exit.
    let deadline = std::time::Instant::now() + STOP_GRACE;
    while handles.iter().any(|h| !h.is_finished()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    for (_, s) in lock(&streams).iter() {
        let _ = s.shutdown(Shutdown::Both);
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

/// Serves one connection until the client leaves, misbehaves, or the broker stops.
fn connection(broker: &Broker, mut stream: TcpStream) -> Result<(), ConnError> {
    let max = broker.config.max_request_size;
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut reader = io::BufReader::with_capacity(64 * 1024, stream.try_clone()?);
    loop {
        let mut len = [0u8; 4];
        match reader.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let mut frame = vec![0u8; wire::frame_len(len, max)?];
        reader.read_exact(&mut frame)?;
        out.clear();
        if apis::handle(broker, Bytes::from(frame), &mut out)? {
            stream.write_all(&out)?;
        }
        if out.capacity() > 16 * 1024 * 1024 {
            out = BytesMut::with_capacity(64 * 1024);
        }
    }
}
