"""Write a tiny random-weight llama model as GGUF, with its own small vocabulary.

    python -m hartnode.testing.tiny_gguf OUT.gguf [--seed N]

For the end-to-end test against a real OpenAI-compatible server
(llama-cpp-python's): a 2-layer, 64-wide llama whose SentencePiece-style
vocabulary is generated here (the three control tokens, the 256 byte-fallback
tokens and a few hundred words), so nothing is downloaded or shipped. Its
output is gibberish, but deterministic: greedy decoding of one file on one
build gives the same tokens every time, which is what the replication check
compares. Needs the ``gguf`` and ``numpy`` packages (the ``llama`` extra).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

N_EMBD, N_HEAD, N_LAYER, N_FF, N_CTX = 64, 4, 2, 128, 512
_WORD_TEXT = ("the a an and or of to in on is are was be it this that with for as at by from "
              "hello world hive node spark job model token compute escrow peer lend borrow pay "
              "yes no one two three four five six seven eight nine ten red green blue sky sea "
              "sun moon star tree stone fire water air earth light dark day night time")
WORDS = tuple(_WORD_TEXT.split(" "))


def vocabulary() -> tuple[list[bytes], list[float], list[int]]:
    """(tokens, scores, types) of a SentencePiece vocabulary with byte fallback."""
    import gguf

    tokens = [b"<unk>", b"<s>", b"</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>".encode() for b in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    pieces = ["\u2581" + w for w in WORDS] + list("abcdefghijklmnopqrstuvwxyz") + ["\u2581"]
    tokens += [p.encode() for p in pieces]
    types += [gguf.TokenType.NORMAL] * len(pieces)
    scores = [0.0] * 259 + [-float(i) for i in range(len(pieces))]
    return tokens, scores, [int(t) for t in types]


def write(path: Path, seed: int = 0) -> Path:
    import gguf
    import numpy as np

    rng = np.random.default_rng(seed)
    tokens, scores, types = vocabulary()
    n_vocab = len(tokens)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("hartnode-tiny")
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)

    def t(name: str, *shape: int) -> None:
        w.add_tensor(name, (rng.standard_normal(shape) * 0.2).astype(np.float32))

    t("token_embd.weight", n_vocab, N_EMBD)
    w.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    t("output.weight", n_vocab, N_EMBD)
    for i in range(N_LAYER):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        for part in ("q", "k", "v", "output"):
            t(f"blk.{i}.attn_{part}.weight", N_EMBD, N_EMBD)
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        t(f"blk.{i}.ffn_gate.weight", N_FF, N_EMBD)
        t(f"blk.{i}.ffn_up.weight", N_FF, N_EMBD)
        t(f"blk.{i}.ffn_down.weight", N_EMBD, N_FF)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hartnode.testing.tiny_gguf")
    p.add_argument("out", type=Path)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    write(args.out, args.seed)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
