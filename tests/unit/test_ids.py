"""Snowflake-like ids: decimal strings, unique, increasing per generator."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callout.domain.ids import IdGenerator, new_id


class TestIds:
    def test_ids_are_decimal_strings(self) -> None:
        """Every id is a string of ASCII digits without a leading zero."""
        ids = [new_id() for _ in range(1000)]
        assert all(value.isascii() and value.isdigit() and not value.startswith("0") for value in ids)

    def test_ids_fit_a_signed_64_bit_integer(self) -> None:
        """Ids fit a signed 64-bit integer column."""
        assert all(0 < int(new_id()) < 1 << 63 for _ in range(1000))

    def test_10000_ids_are_unique(self) -> None:
        """10000 consecutive ids are pairwise distinct."""
        assert len({new_id() for _ in range(10_000)}) == 10_000

    def test_ids_of_one_generator_increase(self) -> None:
        """Ids from one generator strictly increase, also past 4096 per millisecond."""
        generator = IdGenerator()
        values = [int(generator.next_id()) for _ in range(10_000)]
        assert all(earlier < later for earlier, later in itertools.pairwise(values))

    @pytest.mark.parametrize("node", [0, 5, 1023])
    def test_node_number_is_embedded(self, node: int) -> None:
        """A generator's node number occupies bits 12 to 21 of its ids."""
        assert (int(IdGenerator(node).next_id()) >> 12) & 0x3FF == node

    @settings(max_examples=20)
    @given(st.lists(st.integers(min_value=0, max_value=1023), min_size=2, max_size=4, unique=True))
    def test_generators_on_different_nodes_never_collide(self, nodes: list[int]) -> None:
        """Generators with distinct node numbers produce disjoint ids."""
        generators = [IdGenerator(node) for node in nodes]
        ids = [generator.next_id() for _ in range(200) for generator in generators]
        assert len(set(ids)) == len(ids)
