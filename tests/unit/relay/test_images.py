"""Finding and inlining remote image URLs in Chat Completions requests."""

from __future__ import annotations

from kimrel_cli.relay.images import chat_image_urls, inline_chat_images


def body():
    return {
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "two pictures"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://x.test/a.png", "detail": "low"},
                    },
                    {"type": "image_url", "image_url": "http://x.test/b.jpg"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
        ]
    }


def test_only_remote_http_urls_are_collected():
    assert chat_image_urls(body()) == ["https://x.test/a.png", "http://x.test/b.jpg"]


def test_inlining_replaces_urls_and_keeps_detail():
    b = body()
    inline_chat_images(
        b,
        {
            "https://x.test/a.png": "data:image/png;base64,QQ==",
            "http://x.test/b.jpg": "data:image/jpeg;base64,Qg==",
        },
    )
    parts = b["messages"][1]["content"]
    assert parts[1]["image_url"] == {"url": "data:image/png;base64,QQ==", "detail": "low"}
    assert parts[2]["image_url"] == {"url": "data:image/jpeg;base64,Qg=="}
    assert parts[3]["image_url"] == {"url": "data:image/png;base64,AAAA"}
