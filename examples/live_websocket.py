# A Gemini Live API session through vertex-passthrough over a plain WebSocket, without the SDK
# (pip install websockets). Against `make run`, as it is:
#   python3 examples/live_websocket.py
import asyncio
import json
import os

import websockets

URL = os.environ.get("PROXY_WS_URL", "ws://127.0.0.1:4000/vertex_ai/live?model=gemini-live")
KEY = os.environ.get("PROXY_KEY", "sk-local-demo")


async def main() -> None:
    async with websockets.connect(URL, additional_headers={"x-api-key": KEY}) as ws:
        # The first message names the model: the alias is enough, the proxy completes it.
        # gemini-live is a native-audio model: it answers in AUDIO only, with the transcription
        # of what it says as text.
        setup = {
            "model": "gemini-live",
            "generationConfig": {"responseModalities": ["AUDIO"]},
            "outputAudioTranscription": {},
        }
        await ws.send(json.dumps({"setup": setup}))
        print(json.loads(await ws.recv()))  # {'setupComplete': {}}
        turn = {"turns": [{"role": "user", "parts": [{"text": "Hello"}]}], "turnComplete": True}
        await ws.send(json.dumps({"clientContent": turn}))
        async for raw in ws:  # Vertex sends JSON, in text or binary frames
            content = json.loads(raw).get("serverContent", {})
            # The audio is in modelTurn's inlineData parts (24 kHz PCM); print what it says.
            if "outputTranscription" in content:
                print(content["outputTranscription"].get("text", ""), end="", flush=True)
            if content.get("turnComplete"):
                break
        print()


asyncio.run(main())
