import hashlib
import secrets

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django_scim.models import AbstractSCIMGroupMixin, AbstractSCIMUserMixin

from reviewapp.lib.limits import MaxChars, check


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra):
        if not email:
            raise ValueError("A user needs an email address")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, email):
        return self.get(email__iexact=email)

    def placeholder(self, email: str) -> "User":
        """The user with this email, created as a placeholder (never signed in) if new.

        SSO sign-in or SCIM provisioning later claims the placeholder by email.
        """
        email = self.normalize_email(email).lower()
        user = self.filter(email__iexact=email).first()
        if user is None:
            user = self.create_user(email, is_placeholder=True)
        return user


class Group(AbstractSCIMGroupMixin):
    """A group of users (from SCIM, from the OIDC groups claim, or made by hand)."""

    class Source(models.TextChoices):
        LOCAL = "local", "made here"
        OIDC = "oidc", "OIDC groups claim"
        SCIM = "scim", "SCIM provisioning"

    name = models.CharField(max_length=200, unique=True)
    # Who manages the membership: sign-in only removes members from OIDC groups, so it never
    # undoes what SCIM or a person here decided.
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.LOCAL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractBaseUser, PermissionsMixin, AbstractSCIMUserMixin):
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    # Granted a permission by email before ever signing in.
    is_placeholder = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Named `scim_groups` with related name `user_set` so django-scim2's default adapters work.
    scim_groups = models.ManyToManyField(Group, related_name="user_set", blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def get_full_name(self) -> str:
        return self.display_name

    def get_short_name(self) -> str:
        return self.display_name

    def sync_oidc_groups(self, names: list[str]) -> None:
        """Make the user a member of exactly these groups among those the groups claim manages.

        Groups named here that do not exist yet are created (source OIDC); membership of SCIM
        or hand-made groups is only ever added to, never removed, by sign-in.
        """
        wanted = []
        for name in dict.fromkeys(n[:200] for n in names):
            group, _ = Group.objects.get_or_create(name=name, defaults={"source": Group.Source.OIDC})
            wanted.append(group)
        stale = self.scim_groups.filter(source=Group.Source.OIDC).exclude(pk__in=[g.pk for g in wanted])
        self.scim_groups.remove(*stale)
        self.scim_groups.add(*wanted)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def usable(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True, user__is_active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A personal API token; only its SHA-256 is stored, the token is shown once."""

    PREFIX = "rvw_"

    user = models.ForeignKey(User, models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    # First characters, to tell tokens apart in the list.
    hint = models.CharField(max_length=12)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @classmethod
    def issue(cls, *, user: User, name: str, expires_at=None) -> tuple["ApiToken", str]:
        """A new token and its value (kept nowhere: only its hash is stored); ValidationError by field
        when the name breaks a rule (TOKEN_NAME)."""
        name = (name or "").strip()
        errors: dict[str, list] = {}
        if not name:
            errors["name"] = ["give the token a name, e.g. nightly export job"]
        check(errors, "name", name, TOKEN_NAME)
        if errors:
            raise ValidationError(errors)
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            token_hash=hash_token(raw),
            hint=raw[: len(cls.PREFIX) + 4],
            expires_at=expires_at,
        )
        return token, raw

    @property
    def is_usable(self) -> bool:
        if self.revoked_at or not self.user.is_active:
            return False
        return not (self.expires_at and self.expires_at <= timezone.now())


# A token name's rule: run by ApiToken.issue, declared by the API's serializer.
TOKEN_NAME = [MaxChars(ApiToken._meta.get_field("name").max_length)]
