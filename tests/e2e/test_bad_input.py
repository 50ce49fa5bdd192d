"""What a patient can throw at the bot gets a helpful answer, never silence or a stack trace."""

from __future__ import annotations

from tests.e2e.harness import World


async def test_thirty_kilobytes_of_text_gets_help(world: World) -> None:
    pat = world.person()
    await pat.says("/start")
    reply = await pat.says("ä" * 30_000, expect="/help")
    assert "contact your clinic" in (reply.text or "")


async def test_an_unknown_timezone_is_answered_with_an_example(world: World) -> None:
    pat = world.person()
    await pat.says("/start")
    await pat.presses("English")
    await pat.presses("I understand")
    reply = await pat.says("Atlantis underwater city")
    assert "couldn't find" in (reply.text or "")
    assert "Madrid" in (reply.text or "")


async def test_impossible_and_future_dates_are_refused_with_an_example(world: World) -> None:
    pat = world.person()
    await pat.says("/start")
    await pat.presses("English")
    await pat.presses("I understand")
    await pat.says("Europe/London")
    await pat.presses("Yes, that's right")
    await pat.presses("Another day")
    for nonsense in ("31.02 14:00", "25:99", "next year", "tomorrow 10:00", "🙂🙂🙂"):
        reply = await pat.says(nonsense)
        assert "yesterday 5pm" in (reply.text or ""), nonsense
    reply = await pat.says("26.03 14:00")
    assert "Is that right?" in (reply.text or "")
    await pat.presses("Yes", expect="All set")


async def test_a_button_from_a_message_the_bot_no_longer_knows_is_answered(world: World) -> None:
    pat = world.person()
    await pat.says("/start")
    message_id = world.sandbox.bot_messages(pat.user_id)[-1].message_id
    assert message_id is not None
    world.sandbox.user_presses_button(
        pat.user_id, callback_data="ans:999999:yes", message_id=message_id, force=True
    )
    await world.sandbox.wait_for(
        lambda: any(e.kind == "callback_answer" for e in world.sandbox.transcript(pat.user_id)),
        what="the button press to be answered",
    )
    answers = [e for e in world.sandbox.transcript(pat.user_id) if e.kind == "callback_answer"]
    assert any("no longer active" in (a.text or "") and a.show_alert for a in answers)


async def test_commands_before_start_point_to_start(world: World) -> None:
    pat = world.person()
    reply = await pat.says("/plan")
    assert "/start" in (reply.text or "")
    reply = await pat.says("/treated")
    assert "/start" in (reply.text or "")


async def test_an_unknown_command_gets_the_list_of_commands(world: World) -> None:
    pat = world.person()
    await pat.says("/start")
    reply = await pat.says("/frobnicate")
    assert "don't know that command" in (reply.text or "")
