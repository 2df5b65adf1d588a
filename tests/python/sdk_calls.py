# The real SDKs against vertex-passthrough, one scenario per run: google-genai (caches, batches,
# tunings, generate_videos), the OpenAI SDK on Vertex's OpenAI-compatible endpoint, and the
# Anthropic SDK on Vertex. Driven by tests/tests/vertex_surface_sdks.rs; prints one JSON object.
#   PROXY_URL=http://127.0.0.1:PORT/vertex_ai PROXY_KEY=... VERTEXAI_PROJECT=... \
#   VERTEXAI_LOCATION=... python3 tests/python/sdk_calls.py SCENARIO
import json
import os
import sys
import time

PROXY_URL = os.environ["PROXY_URL"]
KEY = os.environ["PROXY_KEY"]
PROJECT = os.environ["VERTEXAI_PROJECT"]
LOCATION = os.environ["VERTEXAI_LOCATION"]


def genai_client():
    from google import genai
    from google.genai import types
    from google.oauth2.credentials import Credentials

    return genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=Credentials(token="unused-the-proxy-holds-the-google-credentials"),
        http_options=types.HttpOptions(base_url=PROXY_URL, headers={"x-api-key": KEY}),
    )


def genai_caches():
    from google.genai import types

    client = genai_client()
    cache = client.caches.create(
        model="gemini-2.0-flash-001",
        config=types.CreateCachedContentConfig(
            contents=[types.Content(role="user", parts=[types.Part(text="a long document")])],
            ttl="600s",
        ),
    )
    got = client.caches.get(name=cache.name)
    client.caches.delete(name=cache.name)
    return {"created": cache.name, "got": got.name, "model": got.model}


def genai_batches():
    client = genai_client()
    job = client.batches.create(
        model="gemini-2.0-flash-001",
        src="gs://bucket/prompts.jsonl",
        config={"dest": "gs://bucket/out"},
    )
    got = client.batches.get(name=job.name)
    listed = [j.name for j in client.batches.list(config={"page_size": 10})]
    return {"created": job.name, "got": got.name, "state": str(got.state), "listed": listed}


def genai_tunings():
    from google.genai import types

    client = genai_client()
    job = client.tunings.tune(
        base_model="gemini-2.0-flash-001",
        training_dataset=types.TuningDataset(gcs_uri="gs://bucket/train.jsonl"),
    )
    got = client.tunings.get(name=job.name)
    return {"created": job.name, "got": got.name, "base_model": got.base_model}


def genai_videos():
    client = genai_client()
    operation = client.models.generate_videos(model="veo-3.0-generate-001", prompt="a cat")
    polls = 0
    while not operation.done and polls < 10:
        time.sleep(0.1)
        operation = client.operations.get(operation)
        polls += 1
    videos = [v.video.uri for v in operation.response.generated_videos]
    return {"operation": operation.name, "polls": polls, "videos": videos}


def openai_client(base_url=None):
    from openai import OpenAI

    return OpenAI(base_url=base_url or f"{PROXY_URL}/openai", api_key=KEY, max_retries=0)


def openai_chat():
    answer = openai_client().chat.completions.create(
        model=os.environ.get("OPENAI_MODEL", "flash"),
        messages=[{"role": "user", "content": "Hello"}],
    )
    return {
        "model": answer.model,
        "content": answer.choices[0].message.content,
        "total_tokens": answer.usage.total_tokens,
    }


def openai_chat_full_base():
    base = f"{PROXY_URL}/v1beta1/projects/{PROJECT}/locations/{LOCATION}/endpoints/openapi"
    answer = openai_client(base).chat.completions.create(
        model="google/gemini-2.0-flash-001",
        messages=[{"role": "user", "content": "Hello"}],
    )
    return {"model": answer.model, "content": answer.choices[0].message.content}


def openai_stream():
    stream = openai_client().chat.completions.create(
        model="flash",
        messages=[{"role": "user", "content": "Hello"}],
        stream=True,
    )
    pieces, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage:
            usage = chunk.usage.total_tokens
    return {"chunks": len(pieces), "text": "".join(pieces), "total_tokens": usage}


def openai_embeddings():
    answer = openai_client().embeddings.create(model="embed", input=["one", "two"])
    return {
        "model": answer.model,
        "vectors": len(answer.data),
        "dimensions": len(answer.data[0].embedding),
        "total_tokens": answer.usage.total_tokens,
    }


def anthropic_client():
    from anthropic import AnthropicVertex

    return AnthropicVertex(
        region=LOCATION,
        project_id=PROJECT,
        base_url=f"{PROXY_URL}/v1",
        access_token=KEY,
        max_retries=0,
    )


def anthropic_create():
    message = anthropic_client().messages.create(
        model="claude-sonnet-4@20250514",
        max_tokens=64,
        messages=[{"role": "user", "content": "Hello"}],
    )
    return {"text": message.content[0].text, "output_tokens": message.usage.output_tokens}


def anthropic_stream():
    with anthropic_client().messages.stream(
        model="claude-sonnet-4@20250514",
        max_tokens=64,
        messages=[{"role": "user", "content": "Hello"}],
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    return {"pieces": len(pieces), "text": "".join(pieces), "stop_reason": final.stop_reason}


SCENARIOS = {
    name: fn
    for name, fn in globals().items()
    if callable(fn) and name.split("_")[0] in ("genai", "openai", "anthropic")
    and not name.endswith("client")
}

if __name__ == "__main__":
    print(json.dumps(SCENARIOS[sys.argv[1]]()))
