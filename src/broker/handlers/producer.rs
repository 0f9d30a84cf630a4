//! InitProducerId: a fresh producer id (epoch 0) for an idempotent producer,
//! as Kafka gives one to every non-transactional producer. Transactions are
//! not served: a transactional id is refused at once with a non-retriable
//! error (and FindCoordinator for a transaction says why, see `groups`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId, RequestHeader,
};

use crate::broker::apis::Handler;
use crate::broker::Broker;
use crate::sync::lock;

impl Handler for InitProducerIdRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        _: i16,
    ) -> Option<InitProducerIdResponse> {
        let mut resp = InitProducerIdResponse::default();
        resp.producer_id = ProducerId(-1);
        resp.producer_epoch = -1;
        if req.transactional_id.is_some() {
            log::warn!(
                "InitProducerId for a transactional id refused: transactions are not supported"
            );
            resp.error_code = ResponseError::UnsupportedVersion.code();
            return Some(resp);
        }
        match lock(&broker.producer_ids).allocate() {
            Ok(id) => {
                resp.producer_id = ProducerId(id);
                resp.producer_epoch = 0;
            }
            Err(e) => {
                log::error!("cannot allocate a producer id: {e:#}");
                resp.error_code = ResponseError::KafkaStorageError.code();
            }
        }
        Some(resp)
    }
}
