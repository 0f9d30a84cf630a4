//! The modern client against the embedded broker, started in-process on
//! port 0, and the batch walk against hand-made batches.

mod broker_backed;
mod walk;
