"""Instance and token administration, and the first-start bootstrap."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from callout.domain.auth import Role
from callout.domain.ids import new_id
from callout.domain.instances import FEATURES, Instance, TokenRecord, generate_token, hash_token
from callout.errors import FailedPrecondition, InvalidArgument, NotFound
from callout.services.context import ServiceContext
from callout.services.secrets import write_private_file
from callout.services.webkeys import ensure_web_key
from callout.storage import instances as store
from callout.storage.database import Connection

ADMIN_PAT_FILE = "admin.pat"
DEFAULT_INSTANCE_NAME = "default"


async def create_instance(context: ServiceContext, name: str, *, with_web_key: bool = True) -> Instance:
    """Create an instance with its default organization and its first web key (RS256)."""
    if not name.strip() or len(name) > 200:
        raise InvalidArgument("Errors.Instance.Invalid", "name must be 1 to 200 characters")
    instance = Instance(id=new_id(), name=name, default_org_id=new_id(), creation_date=context.clock.now())
    await context.database.write(lambda conn: store.insert_instance(conn, instance, org_name=name))
    if with_web_key:
        await ensure_web_key(context, instance.id)
    return instance


async def list_instances(context: ServiceContext) -> list[Instance]:
    """Return every instance."""
    async with context.database.read() as conn:
        return await store.list_instances(conn)


async def choose_instance(context: ServiceContext, given: str | None) -> str:
    """The instance a command acts in: the one given, else the only one; with none or several, say which exist."""
    if given:
        return given
    existing = await list_instances(context)
    if len(existing) == 1:
        return existing[0].id
    if not existing:
        raise FailedPrecondition(
            "Errors.Instance.NotChosen",
            "there is no instance yet; create one with `callout instances create --name NAME`",
            verbatim=True,
        )
    listed = ", ".join(f"{instance.id} ({instance.name})" for instance in existing)
    raise FailedPrecondition(
        "Errors.Instance.NotChosen", f"pass --instance, one of {len(existing)} instances: {listed}", verbatim=True
    )


async def set_feature(context: ServiceContext, instance_id: str, feature: str, enabled: bool) -> Instance:
    """Switch one instance feature on or off."""
    if feature not in FEATURES:
        raise InvalidArgument("Errors.Feature.Unknown", f"known features: {', '.join(sorted(FEATURES))}")

    async def switch(conn: Connection) -> Instance:
        await store.lock_instance(conn, instance_id)  # two switches at once must not lose one
        instance = await store.find_instance(conn, instance_id)
        if instance is None:
            raise NotFound("Errors.Instance.NotFound", instance_id)
        features = {**instance.features, feature: enabled}
        await store.set_features(conn, instance_id, features)
        return replace(instance, features=features)

    return await context.database.write(switch)


async def create_token(context: ServiceContext, instance_id: str, role: Role) -> tuple[TokenRecord, str]:
    """Create a personal access token for a new user of the instance; return it with its secret."""
    token = generate_token()

    async def insert(conn: Connection) -> TokenRecord:
        instance = await store.find_instance(conn, instance_id)
        if instance is None:
            raise NotFound("Errors.Instance.NotFound", instance_id)
        record = TokenRecord(
            id=new_id(),
            instance_id=instance_id,
            org_id=instance.default_org_id,
            user_id=new_id(),
            role=role,
            creation_date=context.clock.now(),
        )
        await store.insert_token(conn, record, hash_token(token))
        return record

    return await context.database.write(insert), token


async def list_tokens(context: ServiceContext, instance_id: str | None) -> list[TokenRecord]:
    """Return the tokens' metadata, never their secrets."""
    async with context.database.read() as conn:
        return await store.list_tokens(conn, instance_id)


async def revoke_token(context: ServiceContext, token_id: str) -> None:
    """Revoke a token by id; unknown or already revoked ids are NotFound."""

    async def revoke(conn: Connection) -> None:
        if not await store.revoke_token(conn, token_id, context.clock.now()):
            raise NotFound("Errors.Token.NotFound", token_id)

    await context.database.write(revoke)


@dataclass(frozen=True)
class FirstStart:
    """What the very first start created: the default instance and the file holding its owner's token."""

    instance_id: str
    token_file: Path


async def bootstrap(context: ServiceContext, data_dir: Path) -> FirstStart | None:
    """On the very first start create the default instance and its owner's token file.

    Returns what was created, or None when an instance already existed.
    """
    existing = await list_instances(context)
    for instance in existing:  # instances from before web keys existed get theirs now
        await ensure_web_key(context, instance.id)
    if existing:
        return None
    instance = await create_instance(context, DEFAULT_INSTANCE_NAME)
    _, token = await create_token(context, instance.id, Role.IAM_OWNER)
    path = data_dir / ADMIN_PAT_FILE
    write_private_file(path, token + "\n")
    return FirstStart(instance.id, path)
