"""The benchmarks' client reads a page's forms and turns as html.parser reads the whole page (benchmarks/client.py)."""

from benchmarks.client import PageParser, parse
from tests import factories


def whole(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    return parser


def fields(parser: PageParser) -> tuple:
    return parser.inputs, parser.turns, parser.conversation_links, parser.body


def test_the_client_reads_what_html_parser_reads_of_the_whole_page(alice, alice_client):
    talk = factories.conversation(owner=alice, title='Quotes "<a>" & <article class="turn">')
    factories.turn(conversation=talk, prompt="<input name='x'> and 1 > 0", status="completed", output_text="Yes.")
    factories.turn(conversation=talk, prompt="Then?", status="in_progress")
    pages = [alice_client.get(path).content.decode() for path in ("/", talk.get_absolute_url())]
    tricky = '<!-- <input name="commented" value="1"> --><script>let s = "<article class=\'turn\'>";</script>'
    pages.append(tricky + '<body data-x="a > b"><input name="kept" value="v > w"><article class="turn" id="t1">')
    for html in pages:
        assert fields(parse(html)) == fields(whole(html.replace(tricky, "")))
    conversation_page = parse(pages[1])
    assert len(conversation_page.turns) == 2 and "csrfmiddlewaretoken" in conversation_page.inputs
    assert parse(pages[2]).inputs == {"kept": "v > w"} and parse(pages[2]).body == {"data-x": "a > b"}
