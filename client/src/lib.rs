//! carbon-client
