//! A tool call the model proposes, through the decision pipeline before the
//! agent sees it: guardrails on its arguments, policy, approval hold.

use std::time::Duration;

use serde_json::Value;

use crate::llm::call::Call;
use crate::pipeline::govern::{self, Action, Entry, Gate, Waited};

/// One tool call the model proposed, through the decision pipeline (stages
/// 3-5: guardrails on its arguments, policy, approval hold). Ok: the
/// (possibly redacted) arguments to pass on. Err: the refusal the agent reads.
pub(crate) async fn propose(call: &mut Call, name: &str, args: &str) -> Result<String, String> {
    let gw = call.gw.clone();
    let tool = warden_core::names::nfc(name.trim());
    if tool.is_empty() || tool.len() > 256 {
        return Err("Warden removed a proposed tool call with no valid name.".into());
    }
    let parsed: Value = match serde_json::from_str(if args.trim().is_empty() { "{}" } else { args }) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) | Err(_) => {
            tracing::warn!(agent = %call.who.agent.name, tool = %tool, "model proposed a call with invalid JSON arguments");
            return Err(format!(
                "Warden refused the call to `{tool}`: the model's arguments are not a valid JSON object, so it was not run."
            ));
        }
    };
    let mut args = parsed;
    gw.guard.screen_arguments(&mut args, &format!("tool call {tool}"), &mut call.report);
    if call.report.blocked().is_some() {
        return Err(format!("Warden refused the call to `{tool}`: its arguments were blocked by a guardrail."));
    }
    let action = Action {
        entry: Entry::Llm,
        agent: call.who.agent.clone(),
        session_id: None,
        tool: tool.clone(),
        annotations: Value::Null,
        args: args.clone(),
        flags: Default::default(),
        trace: call.trace.clone(),
    };
    let text = |a: &Value| serde_json::to_string(a).unwrap_or_else(|_| "{}".into());
    match govern::check(&gw, &action).await {
        Gate::Proceed(_) => Ok(text(&args)),
        Gate::Refuse(r) => Err(format!("Warden refused the call to `{tool}`: {}", r.message)),
        Gate::Hold(mut held) => {
            let wait = gw.proposed_call_wait;
            match held.wait(Some(wait), Duration::from_secs(3600), |_| {}).await {
                Waited::Approved => {
                    if let Err(r) = held.recheck(&action).await {
                        held.finish("refused: the policy changed while the call was held").await;
                        return Err(format!("Warden refused the call to `{tool}`: {}", r.message));
                    }
                    if let Err(e) = govern::commit(&gw, held.record("allow"), None).await {
                        held.finish("refused: the audit trail could not record it").await;
                        return Err(format!(
                            "Warden refused the call to `{tool}`: {}",
                            govern::audit_unavailable(&e).message
                        ));
                    }
                    held.finish("passed to the agent in the model's answer").await;
                    Ok(text(&args))
                }
                Waited::Refused(r) => Err(format!("Warden refused the call to `{tool}`: {}", r.message)),
                Waited::StillPending => {
                    let id = held.approval.id.clone();
                    held.finish("refused: no decision within the model answer's wait").await;
                    drop(held);
                    Err(format!(
                        "Warden held the call to `{tool}` for human approval ({id}) and no one decided within {} s, so it was not passed on.",
                        wait.as_secs()
                    ))
                }
            }
        }
    }
}
