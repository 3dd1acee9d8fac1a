//! haven-agent: the real-world half of haven on one node.
//!
//! - [`link`]: the rtnetlink link monitor, turning carrier changes into
//!   engine inputs; [`bench`] measures its detection latency.
//! - [`netns`]: network namespaces, so several nodes run on one machine (the
//!   lab, the tests).
pub mod bench;
pub mod link;
pub mod netns;
