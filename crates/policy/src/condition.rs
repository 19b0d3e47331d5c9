//! `when:` conditions in CEL, compiled once at load. The program sees
//! `agent` (name, team, owner, labels, data_access), `tool` (name,
//! annotations, labels), `args` (the call's arguments) and `session`
//! (private_data, untrusted_content). It must yield a bool; anything else,
//! or an evaluation error (a missing key, say), fails closed.

use std::sync::{Arc, LazyLock};

use serde_json::{Value, json};

use crate::Request;

const VARIABLES: &[&str] = &["agent", "tool", "args", "session"];

static ENV: LazyLock<Arc<cel::Env>> = LazyLock::new(|| Arc::new(cel::Env::stdlib()));

pub(crate) struct Condition {
    program: cel::Program,
    pub(crate) source: String,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Condition({:?})", self.source)
    }
}

impl Condition {
    pub(crate) fn compile(source: &str) -> Result<Condition, String> {
        let program = ENV.compile(source).map_err(|e| format!("invalid CEL: {}", e.to_string().trim()))?;
        // Probe with an empty request: unknown variables and type errors that
        // do not depend on the arguments show up now, not on the first call.
        let c = Condition { program, source: source.to_string() };
        if let Err(e) = c.run(&probe()) {
            let unknown = e.contains("Undeclared reference") || e.contains("undeclared");
            if unknown {
                return Err(format!("invalid CEL: {e}; the variables are {}", VARIABLES.join(", ")));
            }
        }
        Ok(c)
    }

    pub(crate) fn eval(&self, req: &Request<'_>, labels: &[warden_config::ToolLabel]) -> Result<bool, String> {
        let input = json!({
            "agent": {
                "name": req.agent.name,
                "team": req.agent.team,
                "owner": req.agent.owner,
                "labels": req.agent.labels,
                "data_access": req.agent.data_access,
            },
            "tool": {"name": req.tool, "annotations": req.annotations, "labels": labels},
            "args": req.args,
            "session": {"private_data": req.session.private_data, "untrusted_content": req.session.untrusted_content},
        });
        self.run(&input)
    }

    fn run(&self, input: &Value) -> Result<bool, String> {
        let mut ctx = cel::Context::with_env(ENV.clone());
        for v in VARIABLES {
            let val = cel::to_value(&input[*v]).map_err(|e| e.to_string())?;
            ctx.add_variable_from_value(*v, val);
        }
        match self.program.execute(&ctx) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("`when` must yield a bool, got {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

fn probe() -> Value {
    json!({
        "agent": {"name": "", "team": "", "owner": "", "labels": {}, "data_access": "public"},
        "tool": {"name": "", "annotations": {}, "labels": []},
        "args": {},
        "session": {"private_data": false, "untrusted_content": false},
    })
}
