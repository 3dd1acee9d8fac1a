//! haven-agent: the real-world half of haven on one node.
//!
//! - [`netns`]: network namespaces, so several nodes run on one machine (the
//!   lab, the tests).
pub mod netns;
