"""The sandbox's chat page over HTTP: a window per user, text and presses become updates the
bot answers, junk is refused plainly. (The browser plays it in ``tests/browser/``.)"""

from __future__ import annotations

import aiohttp

from tests.e2e.harness import World


async def test_text_and_a_press_from_the_page_reach_the_bot(world: World) -> None:
    base = world.sandbox.url
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/chat/1001/text", data={"text": "/start"}) as sent:
            assert sent.status == 200  # followed the 303 back to the window
            assert "/chat/1001/messages" in await sent.text()
        await world.sandbox.wait_for(
            lambda: bool(world.sandbox.bot_messages(1001)), timeout=15, what="the welcome"
        )
        async with http.get(f"{base}/chat/1001/messages") as messages:
            page = await messages.text()
        assert "Which language" in page
        assert 'value="lang:en"' in page
        welcome = world.sandbox.bot_messages(1001)[0]
        form = {"message_id": str(welcome.message_id), "data": "lang:en"}
        async with http.post(f"{base}/chat/1001/press", data=form) as pressed:
            assert pressed.status == 200
        await world.sandbox.wait_for(
            lambda: len(world.sandbox.bot_messages(1001)) >= 2, timeout=15, what="the next step"
        )
        async with http.get(f"{base}/chat") as index:
            assert 'href="/chat/1001"' in await index.text()
        async with http.get(f"{base}/chat/not-a-number") as junk:
            assert junk.status == 404
        stale = {"message_id": "999", "data": "nope"}
        async with http.post(f"{base}/chat/1001/press", data=stale) as ignored:
            assert ignored.status == 200  # an old button is ignored, as Telegram does
