# A streamed REST call and a Live API session through vertex-passthrough, with the google-genai
# SDK (pip install google-genai). Against `make run`, as it is:
#   SSL_CERT_FILE=.run/tls/ca.pem python3 examples/genai_sdk.py
import asyncio
import os

from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials

client = genai.Client(
    vertexai=True,
    # With project and location the SDK builds Vertex paths the proxy routes; without them it
    # falls into a "gateway" mode that posts every call to the bare base URL (not usable here).
    project=os.environ.get("VERTEXAI_PROJECT", "proj-alpha"),
    location=os.environ.get("VERTEXAI_LOCATION", "us-central1"),
    # The SDK wants OAuth credentials; the proxy drops them and sends its own Google token.
    credentials=Credentials(token="unused-the-proxy-holds-the-google-credentials"),
    http_options=types.HttpOptions(
        # https: the SDK opens Live sessions with wss:// whatever scheme is given here.
        base_url=os.environ.get("PROXY_URL", "https://localhost:4443/vertex_ai"),
        headers={"x-api-key": os.environ.get("PROXY_KEY", "sk-local-demo")},
    ),
)

# REST, streamed (server-sent events); the model is an alias from the proxy's model_list.
for chunk in client.models.generate_content_stream(model="gemini-flash", contents="Hello"):
    print(chunk.text, end="", flush=True)
print()


async def live() -> None:
    # gemini-live is a native-audio model: it answers in AUDIO only, and the transcription of
    # what it says comes as text beside the audio.
    config = types.LiveConnectConfig(
        response_modalities=["AUDIO"],
        output_audio_transcription=types.AudioTranscriptionConfig(),
    )
    async with client.aio.live.connect(model="gemini-live", config=config) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="Hello")]),
            turn_complete=True,
        )
        async for message in session.receive():  # ends with the turn
            content = message.server_content
            if content and content.output_transcription and content.output_transcription.text:
                print(content.output_transcription.text, end="", flush=True)
    print()


asyncio.run(live())
