from django.core.management.base import BaseCommand, CommandError

from reviewapp.accounts.models import ApiToken, User


class Command(BaseCommand):
    help = "Print a new API token for the user with this email (for operators and scripts)."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--name", default="created on the command line", help="what the token is for")

    def handle(self, *args, email: str, name: str, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}")
        if not user.is_active:
            raise CommandError(f"{user.email} is deactivated; a token would not work")
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("--name must be 1 to 100 characters")
        _token, raw = ApiToken.issue(user=user, name=name)
        # Only the token on stdout, so `TOKEN=$(manage.py create_api_token ...)` works.
        self.stdout.write(raw)
