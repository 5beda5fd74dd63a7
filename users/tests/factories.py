import factory

from users.models import User


class UserFactory(factory.django.DjangoModelFactory):
    """A KG customer by default; pass a +1 phone for a US one."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    phone = factory.Sequence(lambda n: f"+99670{n:07d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.objects.create_user(*args, **kwargs)
