"""Encryption of secrets at rest with the master key (AES-256-GCM) and the master key's life cycle."""

from __future__ import annotations

import base64
import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callout.services.secrets import (
    MASTER_KEY_FILE,
    MasterKeyError,
    SecretBox,
    decode_master_key,
    load_or_create_master_key,
    write_private_file,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
BOX = SecretBox(KEY)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _flip_byte(stored: str, index: int) -> str:
    version, _, body = stored.partition(":")
    raw = bytearray(base64.b64decode(body))
    raw[index % len(raw)] ^= 0x01
    return f"{version}:{base64.b64encode(bytes(raw)).decode()}"


class TestSecretBox:
    @settings(max_examples=100)
    @given(st.text())
    def test_round_trip(self, plaintext: str) -> None:
        """Decrypting an encrypted text gives the text back."""
        assert BOX.decrypt(BOX.encrypt(plaintext)) == plaintext

    @settings(max_examples=50)
    @given(st.text())
    def test_other_key_fails(self, plaintext: str) -> None:
        """A box with another key cannot decrypt and raises MasterKeyError."""
        with pytest.raises(MasterKeyError):
            SecretBox(OTHER_KEY).decrypt(BOX.encrypt(plaintext))

    @settings(max_examples=100)
    @given(st.text(max_size=64), st.integers(min_value=0))
    def test_any_flipped_bit_fails(self, plaintext: str, index: int) -> None:
        """Changing any byte of nonce, ciphertext or tag makes decryption fail with MasterKeyError."""
        with pytest.raises(MasterKeyError):
            BOX.decrypt(_flip_byte(BOX.encrypt(plaintext), index))

    @settings(max_examples=100)
    @given(st.text(min_size=8))
    def test_ciphertext_never_contains_the_plaintext(self, plaintext: str) -> None:
        """The stored value never contains the plaintext."""
        assert plaintext not in BOX.encrypt(plaintext)

    def test_two_encryptions_differ(self) -> None:
        """Encrypting the same text twice gives different values (a fresh nonce each time)."""
        assert BOX.encrypt("signing-key") != BOX.encrypt("signing-key")

    def test_value_names_its_version(self) -> None:
        """The stored value starts with its format version."""
        assert BOX.encrypt("x").startswith("v1:")

    @pytest.mark.parametrize("stored", ["v2:AAAA", "AAAA", ""])
    def test_unknown_version_fails(self, stored: str) -> None:
        """A value without the v1 prefix raises MasterKeyError."""
        with pytest.raises(MasterKeyError):
            BOX.decrypt(stored)

    def test_version_is_authenticated(self) -> None:
        """A v1 value relabelled with another prefix is not decrypted."""
        body = BOX.encrypt("x").partition(":")[2]
        with pytest.raises(MasterKeyError):
            BOX.decrypt("v0:" + body)

    @pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
    def test_key_must_be_32_bytes(self, length: int) -> None:
        """A key of any length but 32 bytes is a MasterKeyError."""
        with pytest.raises(MasterKeyError):
            SecretBox(bytes(length))

    @pytest.mark.parametrize(
        "make_stored",
        [
            pytest.param(lambda: BOX.encrypt("secret")[:-1], id="truncated"),
            pytest.param(lambda: "v1:", id="empty-body"),
            pytest.param(lambda: "v1:AAAA", id="shorter-than-nonce"),
            pytest.param(lambda: "v1:AAAAA", id="bad-base64-length"),
        ],
    )
    def test_malformed_value_is_master_key_error(self, make_stored: Callable[[], str]) -> None:
        """A malformed stored value raises MasterKeyError like any other tampering."""
        with pytest.raises(MasterKeyError):
            BOX.decrypt(make_stored())

    def test_appended_junk_is_rejected(self) -> None:
        """A stored value with non-base64 characters appended is rejected."""
        with pytest.raises(MasterKeyError):
            BOX.decrypt(BOX.encrypt("secret") + "!!")


class TestDecodeMasterKey:
    @given(st.binary(min_size=32, max_size=32))
    def test_base64_of_32_bytes_decodes(self, key: bytes) -> None:
        """The base64 of any 32 bytes decodes back to those bytes."""
        assert decode_master_key(base64.b64encode(key).decode()) == key

    def test_surrounding_whitespace_is_ignored(self) -> None:
        """A trailing newline, as in a key file, is ignored."""
        assert decode_master_key(base64.b64encode(KEY).decode() + "\n") == KEY

    @given(st.binary(max_size=64).filter(lambda key: len(key) != 32))
    def test_wrong_length_is_rejected(self, key: bytes) -> None:
        """Valid base64 of anything but 32 bytes is a MasterKeyError."""
        with pytest.raises(MasterKeyError):
            decode_master_key(base64.b64encode(key).decode())

    @pytest.mark.parametrize(
        "encoded",
        ["not base64!", "%%%%", "AAA", base64.b64encode(KEY).decode()[:-2] + "é=", "", "😀" * 44],
    )
    def test_non_base64_is_rejected(self, encoded: str) -> None:
        """Text that is not base64 is a MasterKeyError."""
        with pytest.raises(MasterKeyError):
            decode_master_key(encoded)

    def test_url_safe_alphabet_is_rejected(self) -> None:
        """URL-safe base64 characters are not accepted by the strict decoder."""
        key = bytes([0xFB] * 32)  # encodes with '+' and '/' in the standard alphabet
        with pytest.raises(MasterKeyError):
            decode_master_key(base64.urlsafe_b64encode(key).decode())

    @given(st.text())
    def test_any_text_is_a_key_or_master_key_error(self, encoded: str) -> None:
        """Any text either decodes to 32 bytes or raises MasterKeyError."""
        with contextlib.suppress(MasterKeyError):
            assert len(decode_master_key(encoded)) == 32


class TestLoadOrCreateMasterKey:
    def test_creates_a_key_file(self, tmp_path: Path) -> None:
        """Without a configured key, a key file is created in the data dir."""
        key = load_or_create_master_key(tmp_path, None)
        assert decode_master_key((tmp_path / MASTER_KEY_FILE).read_text()) == key

    def test_created_file_is_private(self, tmp_path: Path) -> None:
        """The created key file is readable and writable only by its owner."""
        load_or_create_master_key(tmp_path, None)
        assert _mode(tmp_path / MASTER_KEY_FILE) == 0o600

    def test_created_key_is_32_bytes(self, tmp_path: Path) -> None:
        """The created key is 32 bytes long."""
        assert len(load_or_create_master_key(tmp_path, None)) == 32

    def test_existing_file_is_reused(self, tmp_path: Path) -> None:
        """A second call returns the key from the file instead of making a new one."""
        first = load_or_create_master_key(tmp_path, None)
        assert load_or_create_master_key(tmp_path, None) == first

    def test_existing_file_is_not_rewritten(self, tmp_path: Path) -> None:
        """Reusing the key leaves the file's content untouched."""
        load_or_create_master_key(tmp_path, None)
        content = (tmp_path / MASTER_KEY_FILE).read_text()
        load_or_create_master_key(tmp_path, None)
        assert (tmp_path / MASTER_KEY_FILE).read_text() == content

    def test_two_data_dirs_get_different_keys(self, tmp_path: Path) -> None:
        """Each new data dir gets a freshly generated key."""
        assert load_or_create_master_key(tmp_path / "a", None) != load_or_create_master_key(tmp_path / "b", None)

    def test_missing_data_dir_is_created(self, tmp_path: Path) -> None:
        """A data dir that does not exist yet is created."""
        load_or_create_master_key(tmp_path / "deep" / "dir", None)
        assert (tmp_path / "deep" / "dir" / MASTER_KEY_FILE).is_file()

    def test_configured_key_is_preferred(self, tmp_path: Path) -> None:
        """A configured key wins over an existing key file."""
        load_or_create_master_key(tmp_path, None)
        assert load_or_create_master_key(tmp_path, base64.b64encode(KEY).decode()) == KEY

    def test_configured_key_creates_no_file(self, tmp_path: Path) -> None:
        """With a configured key no key file is written."""
        load_or_create_master_key(tmp_path, base64.b64encode(KEY).decode())
        assert not (tmp_path / MASTER_KEY_FILE).exists()

    def test_invalid_configured_key_is_rejected(self, tmp_path: Path) -> None:
        """A malformed configured key is a MasterKeyError, not a silent fallback to the file."""
        with pytest.raises(MasterKeyError):
            load_or_create_master_key(tmp_path, "short")

    def test_corrupt_key_file_is_rejected(self, tmp_path: Path) -> None:
        """A key file that does not hold a valid key is a MasterKeyError."""
        (tmp_path / MASTER_KEY_FILE).write_text("garbage")
        with pytest.raises(MasterKeyError):
            load_or_create_master_key(tmp_path, None)


class TestWritePrivateFile:
    def test_existing_file_becomes_private(self, tmp_path: Path) -> None:
        """Overwriting a world-readable file leaves it with mode 0600."""
        path = tmp_path / "token"
        path.write_text("old")
        os.chmod(path, 0o644)
        write_private_file(path, "new")
        assert _mode(path) == 0o600

    def test_content_is_written(self, tmp_path: Path) -> None:
        """The file holds exactly the given content."""
        path = tmp_path / "token"
        write_private_file(path, "abc\n")
        assert path.read_text() == "abc\n"
