//! One client connection: read a request frame, handle it, write the
//! response, in order, with blocking I/O on the connection's own thread.
//!
//! Reads and writes wait at most [`POLL`] at a time, so the thread notices a
//! stopping broker on its own:
//!
//! - between requests (nothing of the next frame received), it closes at once;
//! - a request already arriving is read to its end, handled (a produce is
//!   appended to the log) and answered: what a client was told is acknowledged
//!   is on disk, and nothing it was not told about is half-done;
//! - a frame still incomplete, or a response the client does not read, gets
//!   [`STOP_BOUND`] after the stop began; then the connection is cut, so a
//!   client that stopped reading cannot hold the broker up.
//!
//! Outside a stop, an idle connection is closed after [`IDLE_TIMEOUT`] and a
//! write that makes no progress for [`WRITE_TIMEOUT`] closes the connection.

use bytes::{Bytes, BytesMut};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::cell::{Cell, RefCell};
use std::io::{self, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use super::partition_log::ReadSlice;
use super::wire::{self, ConnError};
use super::{apis, Broker};

/// How long one blocking read or write waits before the thread looks at the stop flag.
pub const POLL: Duration = Duration::from_millis(100);
/// How long after a stop an arriving frame or an unread response may take before the cut.
pub const STOP_BOUND: Duration = Duration::from_millis(300);
/// How long a connection may sit idle before it is closed (Kafka's connections.max.idle.ms).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a response write may make no progress before the connection is closed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where in a frame a read is: before its first byte, the connection is idle.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Waiting for the first byte of the next request.
    Between,
    /// Part of the frame has arrived.
    Inside,
}

thread_local! {
    /// The address of the client this connection thread serves.
    static PEER: Cell<Option<IpAddr>> = const { Cell::new(None) };
    /// A handle on the socket of the connection this thread serves, to look
    /// for a next request while one is handled.
    static SOCKET: RefCell<Option<TcpStream>> = const { RefCell::new(None) };
    /// Whether bytes of a next request were already read ahead into the
    /// connection's buffer when the current one was taken.
    static READ_AHEAD: Cell<bool> = const { Cell::new(false) };
}

/// Whether the client of the calling connection thread has sent (part of) a
/// next request, or closed, while the current one is handled (`false`
/// outside a connection thread). A fetch parked at the end of the log
/// answers then instead of holding the next request up to its max_wait:
/// responses go out in request order, so the Java consumer's close() would
/// otherwise wait behind its own long poll.
pub fn next_request_waiting() -> bool {
    if READ_AHEAD.with(Cell::get) {
        return true;
    }
    SOCKET.with(|s| s.borrow().as_ref().is_some_and(client_spoke))
}

/// Whether the client has sent bytes not read yet, or hung up, or the
/// socket is in error (a read would not block), without reading anything.
fn client_spoke(stream: &TcpStream) -> bool {
    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

/// Clears the connection thread's socket handle when `serve` returns.
struct SocketGuard;

impl Drop for SocketGuard {
    fn drop(&mut self) {
        SOCKET.with(|s| s.borrow_mut().take());
        READ_AHEAD.with(|r| r.set(false));
    }
}

/// The client address of the connection the calling thread serves (`None`
/// outside a connection thread): handlers read it, as Kafka's `clientHost`.
pub fn peer_ip() -> Option<IpAddr> {
    PEER.with(Cell::get)
}

/// Serves one connection until the client leaves, misbehaves, or the broker stops.
pub fn serve(broker: &Broker, stream: TcpStream) -> Result<(), ConnError> {
    PEER.with(|p| p.set(stream.peer_addr().ok().map(|a| a.ip())));
    stream.set_read_timeout(Some(POLL))?;
    stream.set_write_timeout(Some(POLL))?;
    let max = broker.config.max_request_size;
    let mut writer = stream.try_clone()?;
    let watched = stream.try_clone()?;
    SOCKET.with(|s| *s.borrow_mut() = Some(watched));
    let _clear = SocketGuard;
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut files = Vec::new();
    while let Some(frame) = read_frame(broker, &mut reader, max)? {
        READ_AHEAD.with(|r| r.set(!reader.buffer().is_empty()));
        out.clear();
        files.clear();
        if apis::handle_spliced(broker, frame, &mut out, Some(&mut files))? {
            let mut at = 0;
            for (pos, slice) in files.drain(..) {
                write_all(broker, &mut writer, &out[at..pos])?;
                send_file(broker, &writer, &slice)?;
                at = pos;
            }
            write_all(broker, &mut writer, &out[at..])?;
        }
        if out.capacity() > 16 * 1024 * 1024 {
            out = BytesMut::with_capacity(64 * 1024);
        }
    }
    Ok(())
}

/// Reads the next request frame; `None` when the client closed the connection
/// or the broker stops, between two requests.
fn read_frame(
    broker: &Broker,
    reader: &mut BufReader<TcpStream>,
    max: usize,
) -> Result<Option<Bytes>, ConnError> {
    let mut prefix = [0u8; wire::PREFIX];
    if !fill(broker, reader, &mut prefix, Place::Between)? {
        return Ok(None);
    }
    let mut frame = vec![0u8; wire::frame_len(prefix, max)?];
    fill(broker, reader, &mut frame, Place::Inside)?;
    Ok(Some(Bytes::from(frame)))
}

/// Fills `buf` from the reader, starting at `start`. Returns false, having
/// read nothing, when between two requests the client closed the connection or
/// the broker stops.
fn fill(
    broker: &Broker,
    reader: &mut BufReader<TcpStream>,
    buf: &mut [u8],
    start: Place,
) -> Result<bool, ConnError> {
    let mut filled = 0;
    let mut last_progress = Instant::now();
    while filled < buf.len() {
        let place = if filled == 0 { start } else { Place::Inside };
        if place == Place::Between && broker.is_stopping() && !data_waiting(broker, reader) {
            return Ok(false);
        }
        match reader.read(&mut buf[filled..]) {
            Ok(0) if place == Place::Between => return Ok(false),
            Ok(0) => return Err(io::Error::from(ErrorKind::UnexpectedEof).into()),
            Ok(n) => {
                filled += n;
                last_progress = Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if broker.stopping_for().is_some_and(|t| t > STOP_BOUND) {
                    return Err(ConnError::Protocol(format!(
                        "broker stopping: a request still incomplete {STOP_BOUND:?} after the stop"
                    )));
                }
                if last_progress.elapsed() > IDLE_TIMEOUT {
                    return Err(e.into());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// Whether bytes of a next request have already arrived, and the stop is recent
/// enough to still serve them (a request sent just before the stop is answered).
fn data_waiting(broker: &Broker, reader: &BufReader<TcpStream>) -> bool {
    if broker.stopping_for().is_some_and(|t| t > STOP_BOUND) {
        return false;
    }
    // A client that hung up is read to its end (or its error) and closed.
    !reader.buffer().is_empty() || client_spoke(reader.get_ref())
}

/// Sends a whole log slice from its file, with [`write_all`]'s timeouts.
fn send_file(broker: &Broker, stream: &TcpStream, slice: &ReadSlice) -> Result<(), ConnError> {
    write_with(broker, slice.len(), |done| slice.send_to(stream, done))
}

/// Writes a whole response; a client that reads nothing for [`WRITE_TIMEOUT`],
/// or until [`STOP_BOUND`] after a stop, is cut off.
fn write_all(broker: &Broker, stream: &mut TcpStream, data: &[u8]) -> Result<(), ConnError> {
    write_with(broker, data.len(), |done| stream.write(&data[done..]))
}

/// Writes `len` bytes through `step(done)`, which writes from byte `done`
/// on and says how many it wrote, with the timeouts of [`write_all`].
fn write_with(
    broker: &Broker,
    len: usize,
    mut step: impl FnMut(usize) -> io::Result<usize>,
) -> Result<(), ConnError> {
    let mut done = 0;
    let mut last_progress = Instant::now();
    while done < len {
        match step(done) {
            Ok(0) => return Err(io::Error::from(ErrorKind::WriteZero).into()),
            Ok(n) => {
                done += n;
                last_progress = Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if broker.stopping_for().is_some_and(|t| t > STOP_BOUND) {
                    return Err(ConnError::Protocol(format!(
                        "broker stopping: the client read no response for {STOP_BOUND:?} after the stop"
                    )));
                }
                if last_progress.elapsed() > WRITE_TIMEOUT {
                    return Err(e.into());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
