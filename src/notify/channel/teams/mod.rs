//! The Teams receiver: [`card`] renders a notification as an Adaptive Card in the message
//! shape a workflow webhook takes (pure), and [`workflow`] posts it to the workflow's URL
//! (Power Automate's *When a Teams webhook request is received*). A workflow posts each
//! message as a new card: a card cannot be updated in place, and its buttons only open
//! links (the signed links of the dashboard), so escalations and resolutions are new cards.

pub mod card;
pub mod workflow;

pub use workflow::Teams;
