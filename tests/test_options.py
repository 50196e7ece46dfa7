"""Options and S3Options: validation, keyword checking, secrets, merging, the scheme registry, and how
``to_core_kwargs`` resolves credentials, region and endpoint."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autostore import _core
from autostore import options as options_module
from autostore.exceptions import AutoStoreError, InvalidConfigError
from autostore.options import (
    Options,
    fields_for,
    options_class_for_module,
    options_class_for_scheme,
    register_options_scheme,
    registered_schemes,
    secret_field,
)
from autostore.s3 import OPTIONS_CLASS, S3Options
from autostore.testing import LocalS3Server
from conftest import AwsFiles

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLE-session-token-value"
MIB = 1024 * 1024

BASE_FIELDS = [
    "scheme",
    "cache_enabled",
    "cache_dir",
    "cache_expiry_hours",
    "cache_max_bytes",
    "timeout",
    "max_retries",
    "retry_delay",
    "allow_pickle",
]


# --- Options --------------------------------------------------------------------------------------


def test_options_defaults_match_the_documented_ones() -> None:
    options = Options()
    assert options.scheme is None
    assert options.cache_enabled is False
    assert options.cache_dir is None
    assert options.cache_expiry_hours == 24.0
    assert options.cache_max_bytes is None
    assert options.timeout == 30.0
    assert options.max_retries == 3
    assert options.retry_delay == 1.0
    assert options.allow_pickle is True


def test_readme_base_options_example_constructs() -> None:
    options = Options(
        cache_enabled=True,
        cache_dir="./cache",
        cache_expiry_hours=12,
        timeout=30,
        max_retries=3,
        retry_delay=1.0,
    )
    assert options.cache_dir == "./cache"
    # Integers given for float fields come back as floats, so equal options compare and hash equal.
    assert options.cache_expiry_hours == 12.0
    assert isinstance(options.cache_expiry_hours, float)
    assert isinstance(options.timeout, float)
    assert options == Options(cache_enabled=True, cache_dir="./cache", cache_expiry_hours=12.0)


def test_cache_dir_accepts_a_path_and_scheme_is_lowercased(tmp_path: Path) -> None:
    options = Options(cache_dir=tmp_path, scheme="MinIO")
    assert options.cache_dir == tmp_path
    assert options.scheme == "minio"


def test_fields_for_lists_the_keywords_of_a_class_and_of_an_instance() -> None:
    assert fields_for(Options) == BASE_FIELDS
    assert fields_for(Options()) == BASE_FIELDS
    s3_fields = fields_for(S3Options)
    assert s3_fields[: len(BASE_FIELDS)] == BASE_FIELDS
    assert {"aws_access_key_id", "aws_secret_access_key", "endpoint_url", "addressing_style"} <= set(
        s3_fields
    )


@pytest.mark.parametrize(
    ("field", "value", "expected", "given"),
    [
        ("scheme", 3, "str or None", "int"),
        ("cache_enabled", 1, "bool", "int"),
        ("cache_enabled", "yes", "bool", "str"),
        ("cache_enabled", None, "bool", "NoneType"),
        ("cache_dir", 5, "str or os.PathLike or None", "int"),
        ("cache_expiry_hours", "12", "a number (int or float)", "str"),
        ("cache_expiry_hours", True, "a number (int or float)", "bool"),
        ("cache_max_bytes", 1.5, "int or None", "float"),
        ("cache_max_bytes", True, "int or None", "bool"),
        ("timeout", None, "a number (int or float)", "NoneType"),
        ("timeout", True, "a number (int or float)", "bool"),
        ("max_retries", 2.0, "int", "float"),
        ("max_retries", True, "int", "bool"),
        ("retry_delay", "1", "a number (int or float)", "str"),
        ("allow_pickle", 0, "bool", "int"),
    ],
)
def test_options_wrong_type_names_field_expected_and_given(
    field: str, value: object, expected: str, given: str
) -> None:
    with pytest.raises(TypeError) as caught:
        Options(**{field: value})
    assert str(caught.value) == f"Options.{field} must be {expected}, got {given}"


class BytesPath:
    """A path-like object whose path is bytes."""

    def __fspath__(self) -> bytes:
        return b"/tmp/cache"


def test_bytes_cache_dir_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Options\.cache_dir must be a text path"):
        Options(cache_dir=BytesPath())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Options\.cache_dir must be str or os.PathLike or None, got bytes"):
        Options(cache_dir=b"/tmp/cache")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("timeout", 0, "must be > 0"),
        ("timeout", -1.0, "must be > 0"),
        ("timeout", math.inf, "must be a finite number"),
        ("timeout", math.nan, "must be a finite number"),
        ("cache_expiry_hours", -0.5, "must be >= 0"),
        ("cache_expiry_hours", math.inf, "must be a finite number"),
        ("cache_max_bytes", 0, "must be >= 1"),
        ("max_retries", -1, "must be >= 0"),
        ("retry_delay", -0.1, "must be >= 0"),
        ("cache_dir", "", "must not be an empty path"),
        ("scheme", "", "must be a URI scheme"),
        ("scheme", "3d", "must be a URI scheme"),
        ("scheme", "s3://", "without '://'"),
    ],
)
def test_options_out_of_range_raises_invalid_config_naming_field(
    field: str, value: object, fragment: str
) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        Options(**{field: value})
    message = str(caught.value)
    assert message.startswith(f"Options.{field} ")
    assert fragment in message
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, AutoStoreError)


def test_zero_expiry_and_zero_retries_are_allowed() -> None:
    options = Options(cache_expiry_hours=0, max_retries=0, retry_delay=0)
    assert (options.cache_expiry_hours, options.max_retries, options.retry_delay) == (0.0, 0, 0.0)


def test_unknown_keyword_lists_every_valid_name() -> None:
    with pytest.raises(TypeError) as caught:
        Options(bogus=1)
    assert str(caught.value) == f"Options got an unexpected keyword 'bogus'; valid: {', '.join(BASE_FIELDS)}"


def test_unknown_keyword_suggests_the_closest_name_and_reports_all_unknown() -> None:
    with pytest.raises(TypeError) as caught:
        Options(timout=3, colour="red")
    message = str(caught.value)
    assert "unexpected keywords 'timout' (did you mean 'timeout'?), 'colour'" in message
    assert message.endswith(f"valid: {', '.join(BASE_FIELDS)}")


def test_unknown_keyword_of_a_subclass_names_the_subclass_and_its_fields() -> None:
    with pytest.raises(TypeError) as caught:
        S3Options(bucket="b")
    message = str(caught.value)
    assert message.startswith("S3Options got an unexpected keyword 'bucket'; valid: ")
    assert message.endswith(", ".join(fields_for(S3Options)))


def test_positional_arguments_are_refused_with_the_valid_keywords() -> None:
    with pytest.raises(TypeError, match=r"Options takes keyword arguments only, got 1 positional; valid"):
        Options(True)  # type: ignore[misc]


def test_options_are_immutable() -> None:
    options = Options()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.timeout = 5.0  # type: ignore[misc]


def test_merged_overrides_win_and_the_original_is_unchanged() -> None:
    original = S3Options(region_name="eu-west-1", max_concurrency=4, cache_enabled=True)
    changed = original.merged(max_concurrency=32, region_name=None)
    assert type(changed) is S3Options
    assert changed.max_concurrency == 32
    assert changed.region_name is None
    assert changed.cache_enabled is True
    assert original.max_concurrency == 4
    assert original.region_name == "eu-west-1"


def test_merged_validates_like_construction() -> None:
    with pytest.raises(InvalidConfigError, match=r"S3Options\.max_concurrency must be <= 256"):
        S3Options().merged(max_concurrency=1000)
    with pytest.raises(TypeError, match=r"S3Options\.verify must be bool, got str"):
        S3Options().merged(verify="no")


def test_merged_unknown_keyword_has_the_same_message() -> None:
    with pytest.raises(TypeError) as caught:
        Options().merged(bogus=1)
    assert str(caught.value) == f"Options got an unexpected keyword 'bogus'; valid: {', '.join(BASE_FIELDS)}"


def test_options_survive_pickle_and_copy() -> None:
    options = S3Options(aws_access_key_id="AKID", aws_secret_access_key=SECRET, cache_enabled=True)
    assert pickle.loads(pickle.dumps(options)) == options
    assert copy.deepcopy(options) == options
    assert hash(copy.copy(options)) == hash(options)


def test_base_to_core_kwargs_has_only_the_shared_transfer_settings() -> None:
    assert Options(timeout=5, max_retries=1, retry_delay=0.5).to_core_kwargs() == {
        "timeout": 5.0,
        "max_retries": 1,
        "retry_delay": 0.5,
    }


def test_a_new_options_subclass_gets_keyword_checks_validation_and_masking() -> None:
    @dataclass(frozen=True, kw_only=True)
    class VaultOptions(Options):
        scheme: str | None = "vault"
        token: str | None = secret_field()

    options = VaultOptions(token=TOKEN, timeout=2)
    assert repr(options).startswith("VaultOptions(scheme='vault', ")
    assert "token='***'" in repr(options)
    assert TOKEN not in repr(options)
    with pytest.raises(TypeError, match=r"^VaultOptions got an unexpected keyword 'tokn' \(did you mean"):
        VaultOptions(tokn="x")
    with pytest.raises(InvalidConfigError, match=r"VaultOptions\.timeout must be > 0"):
        VaultOptions(timeout=0)


# --- S3Options: fields and validation ----------------------------------------------------------------


def test_s3_options_defaults() -> None:
    options = S3Options()
    assert options.scheme == "s3"
    assert options.verify is True
    assert options.use_ssl is None
    assert options.multipart_threshold == 64 * MIB
    assert options.multipart_chunksize == 16 * MIB
    assert options.max_concurrency == 10
    assert options.addressing_style == "auto"
    assert OPTIONS_CLASS is S3Options


def test_readme_s3_options_examples_construct() -> None:
    minio = S3Options(
        scheme="minio",
        endpoint_url="https://minio.mycompany.com",
        aws_access_key_id="minioadmin",
        aws_secret_access_key="minioadmin",
        region_name="us-east-1",
    )
    assert minio.scheme == "minio"
    spaces = S3Options(
        scheme="digitalocean",
        endpoint_url="https://nyc3.digitaloceanspaces.com",
        region_name="nyc3",
        cache_enabled=True,
    )
    assert spaces.endpoint_url == "https://nyc3.digitaloceanspaces.com"
    aws = S3Options(
        profile_name="my-profile", region_name="us-east-1", cache_enabled=True, cache_expiry_hours=12
    )
    assert aws.profile_name == "my-profile"


def test_secret_key_and_token_never_appear_in_repr_or_str() -> None:
    options = S3Options(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key=SECRET, aws_session_token=TOKEN
    )
    for text in (repr(options), str(options), f"{options}", repr([options])):
        assert SECRET not in text
        assert TOKEN not in text
        assert "aws_secret_access_key='***'" in text
        assert "aws_session_token='***'" in text
        assert "AKIDEXAMPLE" not in text
        assert "aws_access_key_id='***'" in text
    assert "aws_secret_access_key=None" in repr(S3Options())


def _secret_options(**overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "aws_access_key_id": "AKIDEXAMPLE",
        "aws_secret_access_key": SECRET,
        "aws_session_token": TOKEN,
    }
    kwargs.update(overrides)
    return kwargs


@pytest.mark.parametrize(
    ("overrides", "error", "fragment"),
    [
        ({"endpoint_url": "localhost:9000"}, InvalidConfigError, "add one: 'https://localhost:9000'"),
        ({"endpoint_url": "custom-endpoint"}, InvalidConfigError, "must be a URL with a scheme"),
        ({"endpoint_url": "ftp://host"}, InvalidConfigError, "must start with http:// or https://"),
        ({"endpoint_url": "http://"}, InvalidConfigError, "must name a host"),
        ({"endpoint_url": "http://host:99999"}, InvalidConfigError, "invalid port"),
        ({"endpoint_url": "http://host/?x=1"}, InvalidConfigError, "query or fragment"),
        ({"endpoint_url": ""}, InvalidConfigError, "must not be empty"),
        ({"endpoint_url": 9000}, TypeError, "S3Options.endpoint_url must be str or None, got int"),
        (
            {"use_ssl": False, "endpoint_url": "https://s3.local"},
            InvalidConfigError,
            "contradicts endpoint_url",
        ),
        (
            {"use_ssl": True, "endpoint_url": "http://s3.local"},
            InvalidConfigError,
            "contradicts endpoint_url",
        ),
        ({"use_ssl": "yes"}, TypeError, "S3Options.use_ssl must be bool or None, got str"),
        ({"verify": None}, TypeError, "S3Options.verify must be bool, got NoneType"),
        ({"multipart_threshold": MIB}, InvalidConfigError, "multipart_threshold must be >= 5242880"),
        ({"multipart_chunksize": 4 * MIB}, InvalidConfigError, "multipart_chunksize must be >= 5242880"),
        ({"multipart_chunksize": 6 * 1024 * MIB}, InvalidConfigError, "multipart_chunksize must be <= "),
        (
            {"multipart_chunksize": 8.0 * MIB},
            TypeError,
            "S3Options.multipart_chunksize must be int, got float",
        ),
        ({"max_concurrency": 0}, InvalidConfigError, "max_concurrency must be >= 1"),
        ({"max_concurrency": 257}, InvalidConfigError, "max_concurrency must be <= 256"),
        ({"max_concurrency": True}, TypeError, "S3Options.max_concurrency must be int, got bool"),
        ({"addressing_style": "dns"}, InvalidConfigError, "must be one of 'auto', 'path', 'virtual'"),
        ({"region_name": " "}, InvalidConfigError, "region_name must not be empty or blank"),
        ({"profile_name": 7}, TypeError, "S3Options.profile_name must be str or None, got int"),
        ({"aws_secret_access_key": 12345}, TypeError, "aws_secret_access_key must be str or None, got int"),
        ({"aws_session_token": b"tok"}, TypeError, "aws_session_token must be str or None, got bytes"),
        (
            {"aws_access_key_id": None},
            InvalidConfigError,
            "aws_secret_access_key is set but aws_access_key_id",
        ),
        (
            {"aws_secret_access_key": None, "aws_session_token": None},
            InvalidConfigError,
            "aws_access_key_id is set but aws_secret_access_key is not",
        ),
        (
            {"aws_access_key_id": None, "aws_secret_access_key": None},
            InvalidConfigError,
            "aws_session_token is set without aws_access_key_id",
        ),
        ({"timeout": -1}, InvalidConfigError, "S3Options.timeout must be > 0"),
        ({"scheme": "minio://"}, InvalidConfigError, "S3Options.scheme must be a URI scheme"),
    ],
)
def test_s3_validation_errors_name_the_problem_and_never_the_secrets(
    overrides: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        S3Options(**_secret_options(**overrides))
    message = str(caught.value)
    assert fragment in message
    assert SECRET not in message
    assert TOKEN not in message
    assert SECRET not in repr(caught.value.args)


def test_endpoint_with_user_info_is_refused_without_echoing_it() -> None:
    with pytest.raises(InvalidConfigError) as caught:
        S3Options(endpoint_url=f"https://admin:{SECRET}@minio.local:9000")
    assert "must not contain credentials" in str(caught.value)
    assert SECRET not in str(caught.value)
    with pytest.raises(InvalidConfigError) as caught:
        S3Options(endpoint_url=f"admin:{SECRET}@minio.local:9000")
    assert SECRET not in str(caught.value)


def test_endpoint_trailing_slash_is_dropped_and_matching_use_ssl_is_accepted() -> None:
    options = S3Options(endpoint_url="http://127.0.0.1:8333/", use_ssl=False)
    assert options.endpoint_url == "http://127.0.0.1:8333"


# --- S3Options.to_core_kwargs: resolution ---------------------------------------------------------


def test_to_core_kwargs_uses_exactly_the_core_store_keywords(aws_files: AwsFiles) -> None:
    kwargs = S3Options(aws_access_key_id="AK", aws_secret_access_key=SECRET).to_core_kwargs()
    assert set(kwargs) <= set(inspect.signature(_core.Store).parameters)
    assert set(kwargs) == {
        "access_key_id",
        "secret_access_key",
        "session_token",
        "region",
        "endpoint",
        "profile",
        "verify",
        "timeout",
        "max_retries",
        "retry_delay",
        "multipart_threshold",
        "multipart_chunksize",
        "max_concurrency",
        "virtual_hosted_style",
        "backend",
    }


def test_to_core_kwargs_carries_every_transfer_setting(aws_files: AwsFiles) -> None:
    options = S3Options(
        aws_access_key_id="AK",
        aws_secret_access_key=SECRET,
        aws_session_token=TOKEN,
        region_name="eu-central-1",
        endpoint_url="http://127.0.0.1:9000",
        verify=False,
        timeout=7,
        max_retries=5,
        retry_delay=0.25,
        multipart_threshold=8 * MIB,
        multipart_chunksize=6 * MIB,
        max_concurrency=3,
    )
    assert options.to_core_kwargs() == {
        "access_key_id": "AK",
        "secret_access_key": SECRET,
        "session_token": TOKEN,
        "region": "eu-central-1",
        "endpoint": "http://127.0.0.1:9000",
        "profile": None,
        "verify": False,
        "timeout": 7.0,
        "max_retries": 5,
        "retry_delay": 0.25,
        "multipart_threshold": 8 * MIB,
        "multipart_chunksize": 6 * MIB,
        "max_concurrency": 3,
        "virtual_hosted_style": False,
        "backend": "s3",
    }


def test_explicit_keys_beat_profile_and_environment(
    aws_files: AwsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws_files.write_credentials(
        "[work]\naws_access_key_id = PROFILEKEY\naws_secret_access_key = profilesecret\n"
    )
    aws_files.write_config("[profile work]\nregion = ap-south-1\n")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
    kwargs = S3Options(
        profile_name="work", aws_access_key_id="OPTKEY", aws_secret_access_key=SECRET
    ).to_core_kwargs()
    assert (kwargs["access_key_id"], kwargs["secret_access_key"]) == ("OPTKEY", SECRET)
    # The profile still supplies what the options leave out.
    assert kwargs["region"] == "ap-south-1"
    assert kwargs["profile"] == "work"


def test_profile_beats_environment_keys(aws_files: AwsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    aws_files.write_credentials(
        "[work]\naws_access_key_id = PROFILEKEY\naws_secret_access_key = profilesecret\n"
        "aws_session_token = profiletoken\n"
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
    kwargs = S3Options(profile_name="work").to_core_kwargs()
    assert (kwargs["access_key_id"], kwargs["secret_access_key"], kwargs["session_token"]) == (
        "PROFILEKEY",
        "profilesecret",
        "profiletoken",
    )
    assert kwargs["profile"] == "work"


def test_environment_keys_beat_aws_profile(aws_files: AwsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    aws_files.write_credentials("[ambient]\naws_access_key_id = PROFILEKEY\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_PROFILE", "ambient")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "envtoken")
    kwargs = S3Options().to_core_kwargs()
    assert (kwargs["access_key_id"], kwargs["secret_access_key"], kwargs["session_token"]) == (
        "ENVKEY",
        "envsecret",
        "envtoken",
    )
    assert kwargs["profile"] is None


def test_aws_profile_is_used_without_environment_keys(
    aws_files: AwsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws_files.write_credentials(
        "[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = d\n"
        "[ambient]\naws_access_key_id = AMBIENTKEY\naws_secret_access_key = a\n"
    )
    aws_files.write_config("[profile ambient]\nregion = sa-east-1\nendpoint_url = http://127.0.0.1:7000\n")
    monkeypatch.setenv("AWS_PROFILE", "ambient")
    kwargs = S3Options().to_core_kwargs()
    assert kwargs["access_key_id"] == "AMBIENTKEY"
    assert kwargs["region"] == "sa-east-1"
    assert kwargs["endpoint"] == "http://127.0.0.1:7000"
    assert kwargs["profile"] == "ambient"


def test_default_profile_is_the_last_resort(aws_files: AwsFiles) -> None:
    aws_files.write_credentials("[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = d\n")
    aws_files.write_config("[default]\nregion = eu-north-1\n")
    kwargs = S3Options().to_core_kwargs()
    assert kwargs["access_key_id"] == "DEFAULTKEY"
    assert kwargs["region"] == "eu-north-1"
    assert kwargs["profile"] == "default"


def test_default_profile_without_keys_still_gives_its_region(aws_files: AwsFiles) -> None:
    aws_files.write_config("[default]\nregion = eu-west-3\n")
    kwargs = S3Options().to_core_kwargs()
    assert kwargs["access_key_id"] is None
    assert kwargs["region"] == "eu-west-3"


def test_nothing_configured_leaves_credentials_to_the_core(aws_files: AwsFiles) -> None:
    kwargs = S3Options().to_core_kwargs()
    assert kwargs["access_key_id"] is None
    assert kwargs["secret_access_key"] is None
    assert kwargs["session_token"] is None
    assert kwargs["region"] == "us-east-1"
    assert kwargs["endpoint"] is None
    assert kwargs["profile"] is None


def test_region_precedence(aws_files: AwsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    aws_files.write_credentials(
        "[named]\naws_access_key_id = K\naws_secret_access_key = S\n"
        "[default]\naws_access_key_id = K\naws_secret_access_key = S\n"
    )
    aws_files.write_config("[profile named]\nregion = named-region\n[default]\nregion = default-region\n")
    keys = {"aws_access_key_id": "K", "aws_secret_access_key": SECRET}
    assert S3Options(**keys).to_core_kwargs()["region"] == "default-region"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "env-default-region")
    assert S3Options(**keys).to_core_kwargs()["region"] == "env-default-region"
    monkeypatch.setenv("AWS_REGION", "env-region")
    assert S3Options(**keys).to_core_kwargs()["region"] == "env-region"
    assert S3Options(profile_name="named").to_core_kwargs()["region"] == "named-region"
    assert S3Options(profile_name="named", region_name="option-region").to_core_kwargs()["region"] == (
        "option-region"
    )


def test_endpoint_precedence(aws_files: AwsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    aws_files.write_credentials("[named]\naws_access_key_id = K\naws_secret_access_key = S\n")
    aws_files.write_config(
        "[profile named]\nendpoint_url = http://named:1\n[default]\nendpoint_url = http://default:2\n"
    )
    keys = {"aws_access_key_id": "K", "aws_secret_access_key": SECRET}
    assert S3Options(**keys).to_core_kwargs()["endpoint"] == "http://default:2"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://env:3")
    assert S3Options(**keys).to_core_kwargs()["endpoint"] == "http://env:3"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://env-s3:4/")
    assert S3Options(**keys).to_core_kwargs()["endpoint"] == "http://env-s3:4"
    assert S3Options(profile_name="named").to_core_kwargs()["endpoint"] == "http://named:1"
    explicit = S3Options(profile_name="named", endpoint_url="https://option:5").to_core_kwargs()
    assert explicit["endpoint"] == "https://option:5"


def test_use_ssl_false_builds_a_plain_http_aws_endpoint(aws_files: AwsFiles) -> None:
    kwargs = S3Options(use_ssl=False, region_name="eu-west-1").to_core_kwargs()
    assert kwargs["endpoint"] == "http://s3.eu-west-1.amazonaws.com"
    assert S3Options(use_ssl=True).to_core_kwargs()["endpoint"] is None


def test_bare_host_in_environment_endpoint_names_the_variable(
    aws_files: AwsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "localhost:9000")
    with pytest.raises(InvalidConfigError, match=r"environment variable AWS_ENDPOINT_URL must be a URL"):
        S3Options().to_core_kwargs()


def test_only_the_environment_key_id_is_an_error(
    aws_files: AwsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
    with pytest.raises(InvalidConfigError, match="AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"):
        S3Options().to_core_kwargs()


def test_only_the_environment_secret_is_an_error_that_does_not_show_it(
    aws_files: AwsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    with pytest.raises(InvalidConfigError) as caught:
        S3Options().to_core_kwargs()
    assert "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_aws_profile_naming_a_missing_profile_is_reported(
    aws_files: AwsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "ghost")
    with pytest.raises(
        InvalidConfigError, match=r"environment variable AWS_PROFILE names AWS profile 'ghost'"
    ):
        S3Options().to_core_kwargs()
    # Options that settle everything never look at the ambient profile.
    complete = S3Options(
        aws_access_key_id="K", aws_secret_access_key=SECRET, region_name="r", endpoint_url="http://h:1"
    )
    assert complete.to_core_kwargs()["endpoint"] == "http://h:1"


def test_unknown_profile_name_is_reported(aws_files: AwsFiles) -> None:
    with pytest.raises(InvalidConfigError, match=r"AWS profile 'nope' not found"):
        S3Options(profile_name="nope").to_core_kwargs()


def test_addressing_style_selects_virtual_hosted_requests(aws_files: AwsFiles) -> None:
    assert S3Options(addressing_style="path").to_core_kwargs()["virtual_hosted_style"] is False
    assert S3Options(addressing_style="auto").to_core_kwargs()["virtual_hosted_style"] is False
    assert S3Options(addressing_style="virtual").to_core_kwargs()["virtual_hosted_style"] is True


# --- against a real S3 server ---------------------------------------------------------------------


def _round_trip(kwargs: dict[str, Any], bucket: str) -> bytes:
    store = _core.Store(f"s3://{bucket}", **kwargs)
    store.put("options/probe.bin", b"resolved")
    return bytes(store.get("options/probe.bin"))


def test_core_store_accepts_explicit_options(
    aws_files: AwsFiles, s3_server: LocalS3Server, s3_bucket: str
) -> None:
    options = S3Options(**s3_server.s3_options(), timeout=10, max_concurrency=4)
    assert _round_trip(options.to_core_kwargs(), s3_bucket) == b"resolved"


def test_core_store_accepts_a_static_profile(
    aws_files: AwsFiles, s3_server: LocalS3Server, s3_bucket: str
) -> None:
    aws_files.write_credentials(
        f"[seaweed]\naws_access_key_id = {s3_server.access_key_id}\n"
        f"aws_secret_access_key = {s3_server.secret_access_key}\n"
    )
    aws_files.write_config(
        f"[profile seaweed]\nregion = {s3_server.region}\nendpoint_url = {s3_server.endpoint_url}\n"
    )
    kwargs = S3Options(profile_name="seaweed").to_core_kwargs()
    assert kwargs["profile"] == "seaweed"
    assert _round_trip(kwargs, s3_bucket) == b"resolved"


def test_core_store_accepts_environment_credentials(
    aws_files: AwsFiles, s3_server: LocalS3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_server.aws_env().items():
        monkeypatch.setenv(name, value)
    assert _round_trip(S3Options().to_core_kwargs(), s3_bucket) == b"resolved"


def test_wrong_profile_keys_are_refused_by_the_server(
    aws_files: AwsFiles, s3_server: LocalS3Server, s3_bucket: str
) -> None:
    aws_files.write_credentials("[wrong]\naws_access_key_id = NOTAKEY\naws_secret_access_key = nope\n")
    aws_files.write_config(f"[profile wrong]\nendpoint_url = {s3_server.endpoint_url}\n")
    with pytest.raises(PermissionError):
        _round_trip(S3Options(profile_name="wrong", max_retries=0).to_core_kwargs(), s3_bucket)


# --- registry -------------------------------------------------------------------------------------


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(options_module, "_scheme_modules", dict(options_module._scheme_modules))


def test_options_class_for_module_reads_options_class() -> None:
    assert options_class_for_module("autostore.s3") is S3Options


def test_options_class_for_module_without_options_class() -> None:
    with pytest.raises(TypeError, match=r"module 'autostore.exceptions' defines no OPTIONS_CLASS"):
        options_class_for_module("autostore.exceptions")


def test_options_class_for_a_missing_module() -> None:
    with pytest.raises(ImportError):
        options_class_for_module("autostore.no_such_backend")


def test_builtin_schemes() -> None:
    assert options_class_for_scheme("s3") is S3Options
    assert options_class_for_scheme("S3A") is S3Options
    assert options_class_for_scheme("file") is Options
    assert options_class_for_scheme("") is Options
    assert options_class_for_scheme(None) is Options
    assert {"file", "memory", "s3", "s3a"} <= set(registered_schemes())


@pytest.mark.usefixtures("isolated_registry")
def test_register_a_scheme_for_an_s3_compatible_service() -> None:
    # A scheme no other test registers: the registry is process-wide and tests share workers.
    with pytest.raises(InvalidConfigError, match=r"no backend is registered for scheme 'acme-s3'; known: "):
        options_class_for_scheme("acme-s3")
    assert register_options_scheme("acme-s3", "autostore.s3") is S3Options
    assert options_class_for_scheme("acme-s3") is S3Options
    assert "acme-s3" in registered_schemes()


@pytest.mark.usefixtures("isolated_registry")
def test_registering_a_bad_module_or_scheme_fails_early() -> None:
    with pytest.raises(ImportError):
        register_options_scheme("ghost", "autostore.no_such_backend")
    with pytest.raises(InvalidConfigError, match=r"scheme must be a URI scheme"):
        register_options_scheme("min io", "autostore.s3")
    assert "ghost" not in registered_schemes()
