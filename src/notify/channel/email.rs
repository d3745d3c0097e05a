//! The email receiver (lettre over SMTP: STARTTLS or TLS with rustls, plain only to a server
//! on this machine): a multipart/alternative message with the plain-text and HTML parts
//! rendered at queue time. Transient SMTP errors (4xx, connection) are retried; permanent
//! ones (5xx) fail at once.

use super::{BuildError, Delivery, Notifier, Outgoing};
use crate::notify::config::{Smtp, SmtpTls};
use crate::notify::render::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::future::Future;
use std::pin::Pin;

/// An email receiver: one SMTP transport, fixed recipients.
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl Email {
    /// A receiver sending to `to` through `smtp`.
    ///
    /// # Errors
    /// Bad addresses or TLS setup.
    pub fn new(smtp: &Smtp, to: &[String]) -> Result<Self, BuildError> {
        let builder = match smtp.tls {
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)?,
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)?,
        };
        let mut builder = builder.port(smtp.port).timeout(Some(std::time::Duration::from_secs(20)));
        if let Some((user, pass)) = &smtp.credentials {
            builder =
                builder.credentials(Credentials::new(user.clone(), String::from_utf8_lossy(&pass.0).into_owned()));
        }
        Ok(Email {
            transport: builder.build(),
            from: smtp.from.parse()?,
            to: to.iter().map(|a| a.parse()).collect::<Result<_, _>>()?,
        })
    }
}

/// The message of a stored body: a rendered [`Message`], or an operational notice.
fn message(body: &str) -> Message {
    match serde_json::from_str::<Message>(body) {
        Ok(m) => m,
        Err(_) => {
            let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            let problem = v["problem"].as_str().unwrap_or(body).to_string();
            Message {
                subject: "[OPS] crisiswatch could not deliver a notification".into(),
                text: format!("{problem}\n\nThe notification is kept in the dead letters of the store."),
                html: format!("<p>{}</p>", problem.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")),
                chart_png: None,
            }
        }
    }
}

impl Notifier for Email {
    fn deliver<'a>(&'a self, n: &'a Outgoing) -> Pin<Box<dyn Future<Output = Delivery> + Send + 'a>> {
        Box::pin(async move {
            let m = message(&n.body);
            let mut b = lettre::Message::builder()
                .from(self.from.clone())
                .subject(m.subject)
                .message_id(Some(format!("<{}@crisiswatch>", n.idempotency_key)));
            for to in &self.to {
                b = b.to(to.clone());
            }
            use base64::Engine as _;
            let chart = m.chart_png.as_deref().and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok());
            let body = match chart {
                // text | (html + the chart it shows inline)
                Some(png) => MultiPart::alternative().singlepart(SinglePart::plain(m.text)).multipart(
                    MultiPart::related().singlepart(SinglePart::html(m.html)).singlepart(
                        Attachment::new_inline("chart".to_string())
                            .body(png, ContentType::parse("image/png").expect("valid")),
                    ),
                ),
                None => MultiPart::alternative_plain_html(m.text, m.html),
            };
            let email = match b.multipart(body) {
                Ok(e) => e,
                Err(e) => return Delivery::Fail(format!("cannot build the message: {e}")),
            };
            match self.transport.send(email).await {
                Ok(_) => Delivery::Delivered,
                Err(e) if e.is_permanent() => Delivery::Fail(format!("SMTP: {e}")),
                Err(e) => Delivery::Retry { after: None, error: format!("SMTP: {e}") },
            }
        })
    }
}
