//! The three tone classes a text is labelled with and scored over.

/// Classes, in weight order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Label {
    /// Negative tone.
    Negative = 0,
    /// Neither.
    Neutral = 1,
    /// Positive tone.
    Positive = 2,
}

impl Label {
    /// Parses `negative` / `neutral` / `positive`.
    pub fn parse(s: &str) -> Option<Label> {
        match s.trim() {
            "negative" => Some(Label::Negative),
            "neutral" => Some(Label::Neutral),
            "positive" => Some(Label::Positive),
            _ => None,
        }
    }
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Negative => "negative",
            Label::Neutral => "neutral",
            Label::Positive => "positive",
        }
    }
    pub(crate) const ALL: [Label; 3] = [Label::Negative, Label::Neutral, Label::Positive];
}
