"""What the client scenarios share: assertions and a logged tool call."""
import json


def check(condition, message):
    if not condition:
        raise AssertionError(message)


async def call(session, name, /, **arguments):
    """Calls a tool and prints what it answered; returns the result and its text."""
    result = await session.call_tool(name, arguments)
    text = "".join(c.text for c in result.content if getattr(c, "type", "") == "text")
    print(f"-- {name} {json.dumps(arguments)} isError={result.is_error}\n{text[:600]}")
    return result, text
