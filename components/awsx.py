"""pulumi-awsx, imported where it is used only: the default VPC, a new VPC and a built image.
A program that passes its own subnets and image does not need it (the `vpc` and `image`
extras install it)."""

from types import ModuleType


def awsx(extra: str) -> ModuleType:
    """The pulumi_awsx module, or an error naming the extra that installs it."""
    try:
        import pulumi_awsx  # noqa: PLC0415 - optional: only these code paths need it
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"pulumi-awsx is needed here: pip install 'scheduled-etl[{extra}]'"
        ) from err
    return pulumi_awsx
