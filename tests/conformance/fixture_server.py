"""Conformance fixture: an "everything" MCP server built on the official MCP
Python SDK (low-level Server API). It exposes the tools, resources and prompts
the official conformance suite expects, so the suite can be run against it
directly and through Warden in the same script.

Usage: python fixture_server.py PORT
"""

import asyncio
import json
import sys

import uvicorn
from mcp import types
from mcp.server.lowlevel.server import Server

IMAGE = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
AUDIO = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="

EMPTY = {"type": "object", "properties": {}}


def tool(name, description, schema=None):
    return types.Tool(name=name, description=description, input_schema=schema or EMPTY)


TOOLS = [
    tool("test_simple_text", "Tests simple text content response"),
    tool("test_image_content", "Tests image content response"),
    tool("test_audio_content", "Tests audio content response"),
    tool("test_embedded_resource", "Tests embedded resource content response"),
    tool("test_multiple_content_types", "Tests response with multiple content types (text, image, resource)"),
    tool("test_tool_with_logging", "Tests tool that emits log messages during execution"),
    tool("test_tool_with_progress", "Tests tool that reports progress notifications"),
    tool("test_error_handling", "Tests error response handling"),
    tool("test_sampling", "Tests server-initiated sampling (LLM completion request)",
         {"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]}),
    tool("test_elicitation", "Tests server-initiated elicitation (user input request)",
         {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}),
    tool("test_elicitation_sep1034_defaults", "Tests elicitation with default values per SEP-1034"),
    tool("test_elicitation_sep1330_enums", "Tests elicitation with enum schema improvements per SEP-1330"),
    tool("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features", {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {"address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
        "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
        "additionalProperties": False,
    }),
]


def text(s):
    return types.TextContent(type="text", text=s)


async def list_tools(ctx, params):
    return types.ListToolsResult(tools=TOOLS)


async def call_tool(ctx, params):
    name = params.name
    args = params.arguments or {}
    session = ctx.session
    rid = ctx.request_id
    if name == "test_simple_text":
        return types.CallToolResult(content=[text("This is a simple text response for testing.")])
    if name == "test_image_content":
        return types.CallToolResult(content=[types.ImageContent(type="image", data=IMAGE, mime_type="image/png")])
    if name == "test_audio_content":
        return types.CallToolResult(content=[types.AudioContent(type="audio", data=AUDIO, mime_type="audio/wav")])
    if name == "test_embedded_resource":
        return types.CallToolResult(content=[types.EmbeddedResource(type="resource", resource=types.TextResourceContents(
            uri="test://embedded-resource", mime_type="text/plain", text="This is an embedded resource content."))])
    if name == "test_multiple_content_types":
        return types.CallToolResult(content=[
            text("Multiple content types test:"),
            types.ImageContent(type="image", data=IMAGE, mime_type="image/png"),
            types.EmbeddedResource(type="resource", resource=types.TextResourceContents(
                uri="test://mixed-content-resource", mime_type="application/json",
                text=json.dumps({"test": "data", "value": 123}))),
        ])
    if name == "test_tool_with_logging":
        for i, msg in enumerate(["Tool execution started", "Tool processing data", "Tool execution completed"]):
            if i:
                await asyncio.sleep(0.05)
            await session.send_log_message("info", msg, related_request_id=rid)
        return types.CallToolResult(content=[text("Tool with logging executed successfully")])
    if name == "test_tool_with_progress":
        meta = ctx.meta or {}
        if isinstance(meta, dict):
            token = meta.get("progress_token", meta.get("progressToken"))
        else:
            token = getattr(meta, "progress_token", None)
        token = 0 if token is None else token
        for i, p in enumerate([0, 50, 100]):
            if i:
                await asyncio.sleep(0.05)
            await session.send_progress_notification(token, p, 100, f"Completed step {p} of 100", related_request_id=rid)
        return types.CallToolResult(content=[text(str(token))])
    if name == "test_error_handling":
        return types.CallToolResult(is_error=True, content=[text("This tool intentionally returns an error for testing")])
    if name == "test_sampling":
        result = await session.create_message(
            [types.SamplingMessage(role="user", content=text(args.get("prompt", "")))], max_tokens=100,
            related_request_id=rid)
        content = result.content
        reply = content.text if isinstance(content, types.TextContent) else "No response"
        return types.CallToolResult(content=[text(f"LLM response: {reply}")])
    if name == "test_elicitation":
        result = await session.elicit_form(args.get("message", ""), {
            "type": "object",
            "properties": {"response": {"type": "string", "description": "User's response"}},
            "required": ["response"]}, related_request_id=rid)
        return types.CallToolResult(content=[text(f"User response: action={result.action}, content={json.dumps(result.content or {})}")])
    if name == "test_elicitation_sep1034_defaults":
        result = await session.elicit_form("Please review and update the form fields with defaults", {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                "age": {"type": "integer", "description": "User age", "default": 30},
                "score": {"type": "number", "description": "User score", "default": 95.5},
                "status": {"type": "string", "description": "User status", "enum": ["active", "inactive", "pending"], "default": "active"},
                "verified": {"type": "boolean", "description": "Verification status", "default": True},
            },
            "required": []}, related_request_id=rid)
        return types.CallToolResult(content=[text(f"Elicitation completed: action={result.action}, content={json.dumps(result.content or {})}")])
    if name == "test_elicitation_sep1330_enums":
        result = await session.elicit_form("Please select options from the enum fields", {
            "type": "object",
            "properties": {
                "untitledSingle": {"type": "string", "description": "Select one option", "enum": ["option1", "option2", "option3"]},
                "titledSingle": {"type": "string", "description": "Select one option with titles", "oneOf": [
                    {"const": "value1", "title": "First Option"}, {"const": "value2", "title": "Second Option"},
                    {"const": "value3", "title": "Third Option"}]},
                "legacyEnum": {"type": "string", "description": "Select one option (legacy)", "enum": ["opt1", "opt2", "opt3"],
                               "enumNames": ["Option One", "Option Two", "Option Three"]},
                "untitledMulti": {"type": "array", "description": "Select multiple options", "minItems": 1, "maxItems": 3,
                                  "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                "titledMulti": {"type": "array", "description": "Select multiple options with titles", "minItems": 1, "maxItems": 3,
                                "items": {"anyOf": [{"const": "value1", "title": "First Choice"},
                                                    {"const": "value2", "title": "Second Choice"},
                                                    {"const": "value3", "title": "Third Choice"}]}},
            },
            "required": []}, related_request_id=rid)
        return types.CallToolResult(content=[text(f"Elicitation completed: action={result.action}, content={json.dumps(result.content or {})}")])
    if name == "json_schema_2020_12_tool":
        return types.CallToolResult(content=[text(f"JSON Schema 2020-12 tool called with: {json.dumps(args)}")])
    raise ValueError(f"Unknown tool: {name}")


STATIC = [
    types.Resource(uri="test://static-text", name="static-text", description="A static text resource for testing", mime_type="text/plain"),
    types.Resource(uri="test://static-binary", name="static-binary", description="A static binary resource (image) for testing", mime_type="image/png"),
    types.Resource(uri="test://watched-resource", name="watched-resource", description="A resource that can be subscribed to", mime_type="text/plain"),
]


async def list_resources(ctx, params):
    return types.ListResourcesResult(resources=STATIC)


async def list_templates(ctx, params):
    return types.ListResourceTemplatesResult(resource_templates=[types.ResourceTemplate(
        uri_template="test://template/{id}/data", name="template", description="A resource template with parameter substitution",
        mime_type="application/json")])


async def read_resource(ctx, params):
    uri = str(params.uri)
    if uri == "test://static-text":
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type="text/plain", text="This is the content of the static text resource.")])
    if uri == "test://static-binary":
        return types.ReadResourceResult(contents=[types.BlobResourceContents(uri=uri, mime_type="image/png", blob=IMAGE)])
    if uri == "test://watched-resource":
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type="text/plain", text="Watched resource content")])
    if uri.startswith("test://template/") and uri.endswith("/data"):
        rid = uri[len("test://template/"):-len("/data")]
        body = json.dumps({"id": rid, "templateTest": True, "data": f"Data for ID: {rid}"})
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type="application/json", text=body)])
    raise ValueError(f"Resource not found: {uri}")


async def subscribe(ctx, params):
    return types.EmptyResult()


async def unsubscribe(ctx, params):
    return types.EmptyResult()


PROMPTS = [
    types.Prompt(name="test_simple_prompt", description="A simple prompt without arguments"),
    types.Prompt(name="test_prompt_with_arguments", description="A prompt with required arguments", arguments=[
        types.PromptArgument(name="arg1", description="First test argument", required=True),
        types.PromptArgument(name="arg2", description="Second test argument", required=True)]),
    types.Prompt(name="test_prompt_with_embedded_resource", description="A prompt that includes an embedded resource", arguments=[
        types.PromptArgument(name="resourceUri", description="URI of the resource to embed", required=True)]),
    types.Prompt(name="test_prompt_with_image", description="A prompt that includes image content"),
]


async def list_prompts(ctx, params):
    return types.ListPromptsResult(prompts=PROMPTS)


async def get_prompt(ctx, params):
    args = params.arguments or {}
    if params.name == "test_simple_prompt":
        msgs = [types.PromptMessage(role="user", content=text("This is a simple prompt for testing."))]
    elif params.name == "test_prompt_with_arguments":
        msgs = [types.PromptMessage(role="user", content=text(f"Prompt with arguments: arg1='{args.get('arg1')}', arg2='{args.get('arg2')}'"))]
    elif params.name == "test_prompt_with_embedded_resource":
        uri = args.get("resourceUri", "test://example-resource")
        msgs = [types.PromptMessage(role="user", content=types.EmbeddedResource(type="resource", resource=types.TextResourceContents(
                    uri=uri, mime_type="text/plain", text="Embedded resource content for testing."))),
                types.PromptMessage(role="user", content=text("Please process the embedded resource above."))]
    elif params.name == "test_prompt_with_image":
        msgs = [types.PromptMessage(role="user", content=types.ImageContent(type="image", data=IMAGE, mime_type="image/png")),
                types.PromptMessage(role="user", content=text("Please analyze the image above."))]
    else:
        raise ValueError(f"Unknown prompt: {params.name}")
    return types.GetPromptResult(messages=msgs)


async def complete(ctx, params):
    return types.CompleteResult(completion=types.Completion(values=[], total=0, has_more=False))


async def set_level(ctx, params):
    return types.EmptyResult()


server = Server(
    "mcp-conformance-test-server",
    version="1.0.0",
    on_list_tools=list_tools,
    on_call_tool=call_tool,
    on_list_resources=list_resources,
    on_list_resource_templates=list_templates,
    on_read_resource=read_resource,
    on_subscribe_resource=subscribe,
    on_unsubscribe_resource=unsubscribe,
    on_list_prompts=list_prompts,
    on_get_prompt=get_prompt,
    on_completion=complete,
    on_set_logging_level=set_level,
)

if __name__ == "__main__":
    port = int(sys.argv[1])
    app = server.streamable_http_app(host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
