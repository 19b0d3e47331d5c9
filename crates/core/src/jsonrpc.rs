//! JSON-RPC 2.0 message shapes, as MCP uses them (no batches since 2025-06-18).

use serde_json::{Map, Value, json};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// The client cancelled the request (answered only when an HTTP reply is still owed).
pub const REQUEST_CANCELLED: i64 = -32800;
/// Upstream did not answer in time (same code the MCP SDKs use for request timeouts).
pub const REQUEST_TIMEOUT: i64 = -32001;
/// Upstream unavailable (down, restarting, or died mid-call).
pub const UPSTREAM_UNAVAILABLE: i64 = -32050;
/// MCP: resource not found.
pub const RESOURCE_NOT_FOUND: i64 = -32002;
/// Policy denied the call (`error.data` names the rule, tier and reason).
pub const POLICY_DENIED: i64 = -32010;
/// A human denied the held call.
pub const APPROVAL_DENIED: i64 = -32011;
/// No human decided before the approval's deadline.
pub const APPROVAL_EXPIRED: i64 = -32012;
/// The approval could not be held or delivered (store down, gateway restarted).
pub const APPROVAL_UNAVAILABLE: i64 = -32013;
/// The audit record could not be committed, so the call was refused (or its result withheld).
pub const AUDIT_UNAVAILABLE: i64 = -32014;
/// A rate limit was exceeded (`error.data.retryAfterMs`).
pub const RATE_LIMITED: i64 = -32029;

/// An error response with `data`.
pub fn error_with_data(id: &Value, code: i64, message: impl Into<String>, data: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into(), "data": data}})
}

/// A classified incoming JSON-RPC message. The original object is kept so
/// that passthrough never loses fields Warden does not know about.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request { id: Value, method: String, msg: Map<String, Value> },
    Notification { method: String, msg: Map<String, Value> },
    Response { id: Value, msg: Map<String, Value> },
}

/// Why a message was refused, with the JSON-RPC error code to answer with.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub code: i64,
    pub message: String,
    /// The id, when one could be recovered, so the error can be correlated.
    pub id: Value,
}

fn valid_id(id: &Value) -> bool {
    matches!(id, Value::String(_)) || id.as_i64().is_some() || id.as_u64().is_some()
}

impl Message {
    /// Parses raw bytes into one message.
    pub fn parse(body: &[u8]) -> Result<Message, Invalid> {
        let value: Value = serde_json::from_slice(body).map_err(|e| Invalid {
            code: PARSE_ERROR,
            message: format!("Parse error: {e}"),
            id: Value::Null,
        })?;
        Message::classify(value)
    }

    pub fn classify(value: Value) -> Result<Message, Invalid> {
        let mut obj = match value {
            Value::Object(o) => o,
            Value::Array(_) => {
                return Err(Invalid {
                    code: INVALID_REQUEST,
                    message: "Invalid Request: JSON-RPC batches are not supported".into(),
                    id: Value::Null,
                });
            }
            _ => {
                return Err(Invalid {
                    code: INVALID_REQUEST,
                    message: "Invalid Request: expected a JSON object".into(),
                    id: Value::Null,
                });
            }
        };
        let id = obj.get("id").cloned();
        let invalid = |message: &str, id: &Option<Value>| Invalid {
            code: INVALID_REQUEST,
            message: format!("Invalid Request: {message}"),
            id: id.clone().filter(valid_id).unwrap_or(Value::Null),
        };
        if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(invalid("\"jsonrpc\" must be \"2.0\"", &id));
        }
        if let Some(i) = &id
            && !valid_id(i)
        {
            return Err(invalid("\"id\" must be a string or an integer", &None));
        }
        match obj.get("params") {
            None | Some(Value::Object(_)) => {}
            Some(_) => return Err(invalid("\"params\" must be an object", &id)),
        }
        match (obj.get("method"), id) {
            (Some(Value::String(m)), Some(id)) => {
                let method = m.clone();
                Ok(Message::Request { id, method, msg: obj })
            }
            (Some(Value::String(m)), None) => {
                let method = m.clone();
                Ok(Message::Notification { method, msg: obj })
            }
            (Some(_), id) => Err(invalid("\"method\" must be a string", &id)),
            (None, Some(id)) => {
                let has_result = obj.contains_key("result");
                let has_error = obj.contains_key("error");
                if has_result == has_error {
                    return Err(invalid("a response carries exactly one of \"result\" and \"error\"", &Some(id)));
                }
                obj.remove("params");
                Ok(Message::Response { id, msg: obj })
            }
            (None, None) => Err(invalid("missing \"method\"", &None)),
        }
    }
}

pub fn error(id: &Value, code: i64, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

pub fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// Key for maps indexed by JSON-RPC id: `1` and `"1"` are distinct ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdKey {
    Num(i128),
    Str(String),
}

impl IdKey {
    pub fn of(id: &Value) -> Option<IdKey> {
        match id {
            Value::String(s) => Some(IdKey::Str(s.clone())),
            Value::Number(n) => {
                n.as_i64().map(|v| IdKey::Num(v as i128)).or_else(|| n.as_u64().map(|v| IdKey::Num(v as i128)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_kinds() {
        assert!(matches!(
            Message::parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Ok(Message::Request { method, .. }) if method == "ping"
        ));
        assert!(matches!(
            Message::parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Ok(Message::Notification { .. })
        ));
        assert!(matches!(Message::parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#), Ok(Message::Response { .. })));
    }

    #[test]
    fn malformed_inputs() {
        let code = |b: &[u8]| Message::parse(b).unwrap_err().code;
        assert_eq!(code(b"{"), PARSE_ERROR);
        assert_eq!(code(b""), PARSE_ERROR);
        assert_eq!(code(b"\xff\xfe"), PARSE_ERROR);
        assert_eq!(code(b"[]"), INVALID_REQUEST);
        assert_eq!(code(b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]"), INVALID_REQUEST);
        assert_eq!(code(b"42"), INVALID_REQUEST);
        assert_eq!(code(br#"{"id":1,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":1,"method":5}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":1}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":1,"result":1,"error":{}}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"jsonrpc":"2.0"}"#), INVALID_REQUEST);
        // The id is echoed back when it is valid.
        let e = Message::parse(br#"{"jsonrpc":"1.0","id":7,"method":"ping"}"#).unwrap_err();
        assert_eq!(e.id, json!(7));
    }

    #[test]
    fn id_keys_distinguish_types() {
        assert_ne!(IdKey::of(&json!(1)), IdKey::of(&json!("1")));
        assert_eq!(IdKey::of(&json!(1)), IdKey::of(&json!(1)));
        assert_eq!(IdKey::of(&json!(null)), None);
    }
}
