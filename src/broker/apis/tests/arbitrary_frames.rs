//! Arbitrary bytes into the broker's request dispatch ([`handle`]), the
//! way a fuzzer would feed them, on the stable toolchain: random frames,
//! frames with a valid header and a random body, and valid requests with
//! bytes changed, cut or added. Whatever comes in, the broker answers with
//! one well-formed response frame or closes the connection (an error);
//! it never panics, and it still serves afterwards.

use super::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Frames a client could send: anything at all, a header that names a
/// served API (at a version from one below its range to one above) before
/// random bytes, or a valid request damaged.
fn frames() -> impl Strategy<Value = Vec<u8>> {
    let api = || {
        prop::sample::select(
            APIS.iter()
                .map(|a| (a.key, a.min, a.max))
                .collect::<Vec<_>>(),
        )
    };
    let header_then_junk = (api(), any::<prop::sample::Index>(), any::<i32>()).prop_flat_map(
        |((key, min, max), at, correlation_id)| {
            let version = min - 1 + at.index((max - min + 3) as usize) as i16;
            let mut header = RequestHeader::default();
            header.request_api_key = key as i16;
            header.request_api_version = version;
            header.correlation_id = correlation_id;
            header.client_id = Some("fuzz".into());
            let hv = key.request_header_version(version.clamp(min, max));
            let mut frame = BytesMut::new();
            header.encode(&mut frame, hv).unwrap();
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(move |body| {
                let mut f = frame.to_vec();
                f.extend(body);
                f
            })
        },
    );
    let damaged = (
        api(),
        any::<prop::sample::Index>(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        proptest::option::of(any::<prop::sample::Index>()),
        proptest::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(|((key, min, max), at, changes, cut, tail)| {
            let version = min + at.index((max - min + 1) as usize) as i16;
            let mut f = request(key, version).to_vec();
            for (i, b) in changes {
                let i = i.index(f.len());
                f[i] = b;
            }
            if let Some(c) = cut {
                f.truncate(c.index(f.len() + 1));
            }
            f.extend(tail);
            f
        });
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..200),
        2 => header_then_junk,
        4 => damaged,
    ]
}

/// One frame through the dispatch: a close, no answer for a Produce
/// (acks=0), or exactly one response frame that carries the request's
/// correlation id.
fn serve_one(broker: &Broker, frame: Vec<u8>) -> Result<(), TestCaseError> {
    let mut out = BytesMut::new();
    let key = frame.get(..2).map(|k| i16::from_be_bytes([k[0], k[1]]));
    match handle(broker, Bytes::from(frame.clone()), &mut out) {
        Err(_) => prop_assert!(out.is_empty(), "a close after a partial answer"),
        Ok(false) => {
            prop_assert_eq!(
                key,
                Some(ApiKey::Produce as i16),
                "no answer to a request that needs one"
            );
            prop_assert!(out.is_empty());
        }
        Ok(true) => {
            prop_assert!(out.len() >= 8, "a response without a header");
            let size = i32::from_be_bytes(out[..4].try_into().unwrap());
            prop_assert_eq!(size as usize, out.len() - 4, "one whole frame");
            prop_assert_eq!(&out[4..8], &frame[4..8], "the request's correlation id");
        }
    }
    Ok(())
}

#[test]
fn arbitrary_frames_get_an_answer_or_a_close() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    // A stopping broker ends every wait at once (a Fetch's max_wait, a
    // JoinGroup waiting for the others): random timeouts would otherwise
    // hold the test for up to 2^31 ms. Everything else is served as usual.
    broker.begin_stop();
    let config = Config {
        cases: 2000,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new(config)
        .run(&frames(), |frame| serve_one(&broker, frame))
        .unwrap();
    // Still serving: every API answers a valid request after all that.
    for api in APIS {
        let mut out = BytesMut::new();
        let written = handle(&broker, request(api.key, api.max).freeze(), &mut out);
        assert!(written.is_ok(), "{:?}: {written:?}", api.key);
    }
}
