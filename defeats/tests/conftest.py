import pytest
from django.test import Client

from dealercrm.models import VehicleSeries
from dealercrm.tests.factories import VehicleBrandFactory, VehicleSeriesFactory


@pytest.fixture
def client():
    """Page tests read the English source strings."""
    return Client(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def catalogue(db):
    """One of our series and two competitor series (the migration's catalogue may be there too; these are ours)."""

    class C:
        pass

    c = C()
    c.own = VehicleSeriesFactory(brand=VehicleBrandFactory(name="丰田T", name_en="Toyota T", is_own=True),
                                 name="凯美瑞T", name_en="Camry T")
    honda = VehicleBrandFactory(name="本田T", name_en="Honda T", is_own=False)
    byd = VehicleBrandFactory(name="比亚迪T", name_en="BYD T", is_own=False)
    c.accord = VehicleSeriesFactory(brand=honda, name="雅阁T", name_en="Accord T")
    c.han = VehicleSeriesFactory(brand=byd, name="汉T", name_en="Han T")
    assert VehicleSeries.objects.filter(pk=c.accord.pk).exists()
    return c
