"""AWS profiles: static ones from the shared files (with and without botocore), dynamic ones through
botocore, and the errors for unknown, incomplete or unreadable profiles."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from autostore.credentials import (
    ResolvedCredentials,
    config_file_path,
    credentials_file_path,
    profile_has_credentials,
    profile_names,
    profile_settings,
    resolve_profile,
)
from autostore.exceptions import InvalidConfigError, MissingDependencyError
from conftest import AwsFiles

SECRET = "s3cr3t/with%percent+and=equals"
TOKEN = "session-token-EXAMPLE-0123456789"


@pytest.fixture
def without_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import botocore`` fail as it does when the package is not installed."""
    for name in list(sys.modules):
        if name == "botocore" or name.startswith("botocore."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "botocore", None)


def _credential_process(tmp_path: Path, payload: dict[str, object], exit_code: int = 0) -> str:
    """A ``credential_process`` command line that prints ``payload`` as JSON."""
    script = tmp_path / "credential_process.py"
    script.write_text(
        f"import json, sys\nprint(json.dumps({payload!r}))\nsys.exit({exit_code})\n", encoding="utf-8"
    )
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"


# --- file locations -------------------------------------------------------------------------------


def test_file_locations_follow_the_environment(aws_files: AwsFiles) -> None:
    assert config_file_path() == aws_files.config
    assert credentials_file_path() == aws_files.credentials


def test_file_locations_default_to_the_home_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AWS_CONFIG_FILE", raising=False)
    monkeypatch.delenv("AWS_SHARED_CREDENTIALS_FILE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))
    assert config_file_path() == tmp_path / ".aws" / "config"
    assert credentials_file_path() == tmp_path / ".aws" / "credentials"


# --- static profiles ------------------------------------------------------------------------------


def test_static_profile_from_the_credentials_file_with_region_from_config(aws_files: AwsFiles) -> None:
    aws_files.write_credentials(
        f"""
        [work]
        aws_access_key_id = AKIDWORK
        aws_secret_access_key = {SECRET}
        aws_session_token = {TOKEN}
        """
    )
    aws_files.write_config(
        """
        [profile work]
        region = eu-west-2
        endpoint_url = https://s3.example.test
        """
    )
    assert resolve_profile("work") == ResolvedCredentials(
        access_key_id="AKIDWORK",
        secret_access_key=SECRET,
        session_token=TOKEN,
        region="eu-west-2",
        endpoint_url="https://s3.example.test",
    )


def test_static_keys_may_live_in_the_config_file(aws_files: AwsFiles) -> None:
    aws_files.write_config(
        """
        [default]
        aws_access_key_id = AKIDDEFAULT
        aws_secret_access_key = defaultsecret
        region = ca-central-1
        """
    )
    credentials = resolve_profile("default")
    assert (credentials.access_key_id, credentials.secret_access_key) == ("AKIDDEFAULT", "defaultsecret")
    assert credentials.session_token is None
    assert credentials.region == "ca-central-1"
    assert credentials.endpoint_url is None


def test_the_credentials_file_wins_over_the_config_file(aws_files: AwsFiles) -> None:
    aws_files.write_config("[profile p]\naws_access_key_id = FROMCONFIG\naws_secret_access_key = c\n")
    aws_files.write_credentials("[p]\naws_access_key_id = FROMCREDENTIALS\naws_secret_access_key = k\n")
    assert resolve_profile("p").access_key_id == "FROMCREDENTIALS"


def test_config_sections_need_the_profile_prefix(aws_files: AwsFiles) -> None:
    # In the config file, [name] (other than [default]) is not a profile; botocore ignores it too.
    aws_files.write_config("[work]\nregion = eu-west-1\n[profile other]\nregion = us-west-2\n")
    assert profile_names() == ["other"]
    with pytest.raises(InvalidConfigError, match="AWS profile 'work' not found"):
        profile_settings("work")


def test_static_profile_works_without_botocore(aws_files: AwsFiles, without_botocore: None) -> None:
    aws_files.write_credentials(f"[p]\naws_access_key_id = AKIDP\naws_secret_access_key = {SECRET}\n")
    with pytest.raises(ImportError):
        import botocore  # noqa: F401
    credentials = resolve_profile("p")
    assert credentials.access_key_id == "AKIDP"
    assert credentials.secret_access_key == SECRET


def test_percent_signs_in_secrets_are_not_interpolated(aws_files: AwsFiles) -> None:
    aws_files.write_credentials("[p]\naws_access_key_id = K\naws_secret_access_key = a%(b)s%%c\n")
    assert resolve_profile("p").secret_access_key == "a%(b)s%%c"


def test_services_section_endpoint_wins_over_the_profile_endpoint(aws_files: AwsFiles) -> None:
    aws_files.write_credentials("[local]\naws_access_key_id = K\naws_secret_access_key = S\n")
    aws_files.write_config(
        """
        [profile local]
        endpoint_url = http://generic:1
        services = local-services

        [services local-services]
        dynamodb =
          endpoint_url = http://dynamo:2
        s3 =
          endpoint_url = http://s3-only:3
        """
    )
    assert resolve_profile("local").endpoint_url == "http://s3-only:3"


def test_services_section_without_s3_keeps_the_profile_endpoint(aws_files: AwsFiles) -> None:
    aws_files.write_credentials("[local]\naws_access_key_id = K\naws_secret_access_key = S\n")
    aws_files.write_config(
        """
        [profile local]
        endpoint_url = http://generic:1
        services = svc

        [services svc]
        sqs =
          endpoint_url = http://sqs:2
        """
    )
    assert resolve_profile("local").endpoint_url == "http://generic:1"


def test_repr_hides_the_secret_key_and_token(aws_files: AwsFiles) -> None:
    aws_files.write_credentials(
        f"[p]\naws_access_key_id = AKIDP\naws_secret_access_key = {SECRET}\naws_session_token = {TOKEN}\n"
    )
    credentials = resolve_profile("p")
    for text in (repr(credentials), str(credentials)):
        assert SECRET not in text
        assert TOKEN not in text
        assert "secret_access_key='***'" in text
        assert "session_token='***'" in text
        assert "AKIDP" not in text
        assert "access_key_id='***'" in text
    assert "session_token=None" in repr(ResolvedCredentials(access_key_id="A", secret_access_key="B"))


def test_profile_names_and_has_credentials(aws_files: AwsFiles) -> None:
    aws_files.write_credentials("[keys]\naws_access_key_id = K\naws_secret_access_key = S\n")
    aws_files.write_config(
        "[default]\nregion = us-east-2\n[profile sso]\nsso_session = corp\nsso_account_id = 1\n"
    )
    assert profile_names() == ["default", "keys", "sso"]
    assert profile_has_credentials("keys")
    assert profile_has_credentials("sso")
    assert not profile_has_credentials("default")
    assert not profile_has_credentials("missing")


def test_missing_files_mean_no_profiles(aws_files: AwsFiles) -> None:
    assert not aws_files.config.exists()
    assert profile_names() == []


# --- errors ---------------------------------------------------------------------------------------


def test_unknown_profile_names_the_profile_and_both_files(aws_files: AwsFiles) -> None:
    aws_files.write_credentials("[other]\naws_access_key_id = K\naws_secret_access_key = S\n")
    with pytest.raises(InvalidConfigError) as caught:
        resolve_profile("missing")
    message = str(caught.value)
    assert "AWS profile 'missing' not found" in message
    assert str(aws_files.config) in message
    assert str(aws_files.credentials) in message


def test_profile_without_credentials(aws_files: AwsFiles) -> None:
    aws_files.write_config("[profile regional]\nregion = eu-south-1\n")
    with pytest.raises(InvalidConfigError, match=r"AWS profile 'regional' holds no credentials"):
        resolve_profile("regional")


def test_profile_with_half_of_the_static_keys(aws_files: AwsFiles) -> None:
    aws_files.write_credentials(f"[half]\naws_secret_access_key = {SECRET}\n")
    with pytest.raises(InvalidConfigError) as caught:
        resolve_profile("half")
    assert str(caught.value) == "AWS profile 'half' has no aws_access_key_id"
    aws_files.write_credentials("[half]\naws_access_key_id = K\n")
    with pytest.raises(InvalidConfigError, match=r"AWS profile 'half' has no aws_secret_access_key"):
        resolve_profile("half")


def test_empty_profile_name_is_refused(aws_files: AwsFiles) -> None:
    with pytest.raises(InvalidConfigError, match="non-empty string"):
        resolve_profile(" ")


def test_unparsable_file_names_file_and_line_but_not_its_content(aws_files: AwsFiles) -> None:
    aws_files.credentials.write_text(f"aws_secret_access_key = {SECRET}\n[p]\n", encoding="utf-8")
    with pytest.raises(InvalidConfigError) as caught:
        resolve_profile("p")
    message = str(caught.value)
    assert f"cannot parse AWS shared file {aws_files.credentials}" in message
    assert "line 1" in message
    assert SECRET not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_unreadable_file_is_reported(aws_files: AwsFiles) -> None:
    aws_files.config.mkdir()
    with pytest.raises(InvalidConfigError, match=r"cannot read AWS shared file .*aws-config"):
        profile_names()


# --- dynamic profiles -----------------------------------------------------------------------------


def test_credential_process_profile_resolves_through_botocore(
    aws_files: AwsFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    command = _credential_process(
        tmp_path,
        {"Version": 1, "AccessKeyId": "AKIDPROCESS", "SecretAccessKey": SECRET, "SessionToken": TOKEN},
    )
    aws_files.write_config(f"[profile proc]\ncredential_process = {command}\nregion = ap-northeast-1\n")
    # An explicitly named profile must win over keys in the environment.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
    assert resolve_profile("proc") == ResolvedCredentials(
        access_key_id="AKIDPROCESS",
        secret_access_key=SECRET,
        session_token=TOKEN,
        region="ap-northeast-1",
        endpoint_url=None,
    )


def test_static_keys_beat_credential_process_as_in_botocore(aws_files: AwsFiles, tmp_path: Path) -> None:
    command = _credential_process(tmp_path, {"Version": 1, "AccessKeyId": "X", "SecretAccessKey": "Y"})
    aws_files.write_config(f"[profile both]\ncredential_process = {command}\n")
    aws_files.write_credentials("[both]\naws_access_key_id = STATIC\naws_secret_access_key = S\n")
    assert resolve_profile("both").access_key_id == "STATIC"


def test_failing_credential_process_is_an_invalid_config(aws_files: AwsFiles, tmp_path: Path) -> None:
    command = _credential_process(tmp_path, {"error": "denied"}, exit_code=3)
    aws_files.write_config(f"[profile broken]\ncredential_process = {command}\n")
    with pytest.raises(InvalidConfigError, match=r"AWS profile 'broken' \(credential_process\)"):
        resolve_profile("broken")


def test_credential_process_without_botocore_names_the_extra(
    aws_files: AwsFiles, tmp_path: Path, without_botocore: None
) -> None:
    command = _credential_process(tmp_path, {"Version": 1, "AccessKeyId": "X", "SecretAccessKey": "Y"})
    aws_files.write_config(f"[profile proc]\ncredential_process = {command}\n")
    with pytest.raises(MissingDependencyError) as caught:
        resolve_profile("proc")
    assert isinstance(caught.value, ImportError)
    assert "autostore[aws]" in str(caught.value)
    assert "'proc' uses credential_process" in str(caught.value)


def test_role_profile_without_botocore_names_the_extra(aws_files: AwsFiles, without_botocore: None) -> None:
    aws_files.write_credentials("[base]\naws_access_key_id = K\naws_secret_access_key = S\n")
    aws_files.write_config(
        "[profile admin]\nrole_arn = arn:aws:iam::123456789012:role/admin\nsource_profile = base\n"
    )
    with pytest.raises(MissingDependencyError, match=r"'admin' uses role_arn.*autostore\[aws\]"):
        resolve_profile("admin")


def test_sso_profile_with_keys_still_goes_through_botocore(
    aws_files: AwsFiles, without_botocore: None
) -> None:
    aws_files.write_config(
        "[profile corp]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = r\n"
        "aws_access_key_id = K\naws_secret_access_key = S\n"
    )
    with pytest.raises(MissingDependencyError, match=r"'corp' uses sso_session"):
        resolve_profile("corp")
