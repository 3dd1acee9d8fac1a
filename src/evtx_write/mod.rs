//! Placeholder until the writer lands.
#[derive(Debug, thiserror::Error)]
#[error("not yet")]
pub struct WriteError;
pub fn write_evtx(_xml: &str) -> Result<Vec<u8>, WriteError> {
    Err(WriteError)
}
