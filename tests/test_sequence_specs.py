"""The sequence reference specs (specs/sequence/) against the PyTorch modules they write: each
loads the reference's state_dict strictly, and gives its outputs in eval mode and in training mode
with the same seed (dropout draws in the same order); static shapes equal torch's node by node;
parameter counts equal."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch_harness import build_checked, observed_shapes, shape_disagreements  # noqa: E402

import archspec  # noqa: E402

pytestmark = pytest.mark.torch


class LSTMTagger(nn.Module):
    """The PyTorch tutorial's tagger, two bidirectional layers deep, batch first."""

    def __init__(self, vocab_size=5000, embedding_dim=64, hidden_dim=128, tagset_size=17):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, num_layers=2, batch_first=True,
                            bidirectional=True, dropout=0.1)  # fmt: skip
        self.hidden2tag = nn.Linear(2 * hidden_dim, tagset_size)

    def forward(self, tokens):
        features, _ = self.lstm(self.word_embeddings(tokens))
        return self.hidden2tag(features)


class EncoderRNN(nn.Module):
    """The seq2seq translation tutorial's encoder."""

    def __init__(self, input_size=4000, hidden_size=128, dropout_p=0.1):
        super().__init__()
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, tokens):
        output, hidden = self.gru(self.dropout(self.embedding(tokens)))
        return output, hidden


class M5(nn.Module):
    """The torchaudio speech-command tutorial's M5."""

    def __init__(self, n_input=1, n_output=35, stride=16, n_channel=32):
        super().__init__()
        self.conv1 = nn.Conv1d(n_input, n_channel, kernel_size=80, stride=stride)
        self.bn1 = nn.BatchNorm1d(n_channel)
        self.pool1 = nn.MaxPool1d(4)
        self.conv2 = nn.Conv1d(n_channel, n_channel, kernel_size=3)
        self.bn2 = nn.BatchNorm1d(n_channel)
        self.pool2 = nn.MaxPool1d(4)
        self.conv3 = nn.Conv1d(n_channel, 2 * n_channel, kernel_size=3)
        self.bn3 = nn.BatchNorm1d(2 * n_channel)
        self.pool3 = nn.MaxPool1d(4)
        self.conv4 = nn.Conv1d(2 * n_channel, 2 * n_channel, kernel_size=3)
        self.bn4 = nn.BatchNorm1d(2 * n_channel)
        self.pool4 = nn.MaxPool1d(4)
        self.fc1 = nn.Linear(2 * n_channel, n_output)

    def forward(self, x):
        x = self.pool1(F.relu(self.bn1(self.conv1(x))))
        x = self.pool2(F.relu(self.bn2(self.conv2(x))))
        x = self.pool3(F.relu(self.bn3(self.conv3(x))))
        x = self.pool4(F.relu(self.bn4(self.conv4(x))))
        x = F.avg_pool1d(x, x.shape[-1])
        x = x.permute(0, 2, 1)
        x = self.fc1(x)
        return F.log_softmax(x, dim=2)


class CausalSelfAttention(nn.Module):
    """nanoGPT's attention, written out (its path without flash attention)."""

    def __init__(self, d_model, n_head, block_size, dropout):
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.attn_drop = nn.Dropout(dropout)
        self.proj = nn.Linear(d_model, d_model)
        self.resid_drop = nn.Dropout(dropout)
        above = torch.ones(block_size, block_size, dtype=torch.bool).triu(diagonal=1)
        self.register_buffer("causal", above, persistent=False)

    def forward(self, x):
        n, length, channels = x.size()
        q, k, v = self.qkv(x).split(channels, dim=2)
        heads = (n, length, self.n_head, channels // self.n_head)
        q, k, v = (t.view(*heads).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        scores = scores.masked_fill(self.causal[:length, :length], float("-inf"))
        weights = self.attn_drop(F.softmax(scores, dim=-1))
        y = (weights @ v).transpose(1, 2).contiguous().view(n, length, channels)
        return self.resid_drop(self.proj(y))


class MLP(nn.Module):
    def __init__(self, d_model, dropout):
        super().__init__()
        self.fc = nn.Linear(d_model, 4 * d_model)
        self.gelu = nn.GELU()
        self.proj = nn.Linear(4 * d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.proj(self.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, d_model, n_head, block_size, dropout):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_head, block_size, dropout)
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = MLP(d_model, dropout)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Embeddings(nn.Module):
    def __init__(self, vocab_size, d_model, block_size, dropout):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(block_size, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, tokens):
        positions = torch.arange(tokens.size(1), device=tokens.device)
        return self.drop(self.tok(tokens) + self.pos(positions))


class GPT(nn.Module):
    """A small nanoGPT: its output layer's weight is the token embedding's (weight tying)."""

    def __init__(
        self, vocab_size=256, block_size=64, n_layer=4, n_head=4, d_model=128, dropout=0.1
    ):
        super().__init__()
        self.embed = Embeddings(vocab_size, d_model, block_size, dropout)
        self.blocks = nn.Sequential(
            *[Block(d_model, n_head, block_size, dropout) for _ in range(n_layer)]
        )
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.ln_f = nn.LayerNorm(d_model)
        self.head.weight = self.embed.tok.weight

    def forward(self, tokens):
        return self.head(self.ln_f(self.blocks(self.embed(tokens))))


@dataclass(frozen=True)
class Case:
    spec: str
    reference: type
    example: object = field(compare=False)  # (generator) -> the input


def _tokens(vocab: int):
    return lambda g: torch.randint(0, vocab, (3, 11), generator=g)


CASES = [
    pytest.param(Case("lstm_tagger", LSTMTagger, _tokens(5000)), id="lstm_tagger"),
    pytest.param(Case("gru_encoder", EncoderRNN, _tokens(4000)), id="gru_encoder"),
    pytest.param(Case("m5", M5, lambda g: torch.randn(3, 1, 8000, generator=g)), id="m5"),
    pytest.param(Case("gpt", GPT, _tokens(256)), id="gpt"),
]


def _outputs(value) -> list:
    return list(value) if isinstance(value, tuple) else [value]


def _assert_equal(actual, expected) -> None:
    actual, expected = _outputs(actual), _outputs(expected)
    assert len(actual) == len(expected)
    for ours, theirs in zip(actual, expected):
        assert ours.shape == theirs.shape
        assert theirs.std() > 0
        assert torch.allclose(ours, theirs, atol=1e-5, rtol=1e-4), (ours - theirs).abs().max()


@pytest.mark.parametrize("case", CASES)
def test_spec_equals_its_torch_module(case):
    path = f"specs/sequence/{case.spec}.arch"
    result = archspec.check(path)
    assert result.diagnostics == []
    torch.manual_seed(0)
    reference = case.reference()
    model = archspec.build(path)
    model.load_state_dict(reference.state_dict(), strict=True)
    assert list(model.state_dict()) == list(reference.state_dict())
    assert result.model().parameter_count == sum(p.numel() for p in reference.parameters())
    x = case.example(torch.Generator().manual_seed(1))
    reference.eval(), model.eval()
    with torch.no_grad():
        _assert_equal(model(x), reference(x))
    reference, model = copy.deepcopy(reference).train(), copy.deepcopy(model).train()
    with torch.no_grad():
        torch.manual_seed(2)
        expected = reference(x)
        torch.manual_seed(2)
        _assert_equal(model(x), expected)


@pytest.mark.parametrize("case", CASES)
def test_static_shapes_equal_torch(case):
    model, checked, filename = build_checked(f"specs/sequence/{case.spec}.arch")
    sizes = {"L": 11}
    real, _ = observed_shapes(model, checked, filename, batch=3, sizes=sizes)
    assert real, "nothing was observed"
    assert shape_disagreements(checked, real, batch=3, sizes=sizes) == []
