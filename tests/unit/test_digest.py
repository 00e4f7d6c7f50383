"""``flex_provider.digest.sha256_file``: the digest of every byte of a file, whatever its size."""

from __future__ import annotations

import pytest

from flex_provider.digest import sha256_file

# SHA-256 test vectors (FIPS 180-2 / NIST CAVS): empty input and "abc".
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
# One million "a" (FIPS 180-2 appendix B.3).
MILLION_A = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"


@pytest.mark.parametrize(("data", "expected"), [(b"", EMPTY), (b"abc", ABC)])
def test_known_vectors(tmp_path, data, expected) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert sha256_file(path) == expected
    assert sha256_file(str(path)) == expected


@pytest.mark.parametrize("block_size", [7, 4096, 1 << 20])
def test_a_file_larger_than_a_block_is_hashed_whole(tmp_path, block_size) -> None:
    """Every block counts: a file of many blocks (and a last partial one) gives the one-shot digest."""
    path = tmp_path / "a.txt"
    path.write_bytes(b"a" * 1_000_000)
    assert sha256_file(path, block_size=block_size) == MILLION_A


def test_missing_file_raises(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        sha256_file(tmp_path / "absent")
